package cpiogen

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// lsMode renders a mode the way ls, GNU cpio -tv and bsdtar -tv do.
func lsMode(mode uint32) string {
	typ := map[uint32]byte{TypeReg: '-', TypeDir: 'd', TypeSymlink: 'l', TypeChar: 'c',
		TypeBlock: 'b', TypeFIFO: 'p', TypeSocket: 's'}[mode&TypeMask]
	b := []byte{typ}
	for i, c := range "rwxrwxrwx" {
		if mode&(1<<(8-i)) != 0 {
			b = append(b, byte(c))
		} else {
			b = append(b, '-')
		}
	}
	special := func(bit uint32, pos int, set, unset byte) {
		if mode&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = unset
			}
		}
	}
	special(ModeSetuid, 3, 's', 'S')
	special(ModeSetgid, 6, 's', 'S')
	special(ModeSticky, 9, 't', 'T')
	return string(b)
}

// listing is one line of a -tv listing, split into the fields we check.
type listing struct {
	mode, nlink, uid, gid, sizeOrDev, name, link string
}

// parseListing splits "MODE NLINK UID GID SIZE|MAJ,MIN MON DAY YEAR NAME
// [-> TARGET | link to NAME]". GNU cpio writes devices as "4, 300",
// bsdtar as "4,300".
func parseListing(t *testing.T, out string) map[string]listing {
	t.Helper()
	m := map[string]listing{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.HasSuffix(f[4], ",") {
			f = append(f[:4], append([]string{f[4] + f[5]}, f[6:]...)...)
		}
		if len(f) < 9 {
			t.Fatalf("unexpected listing line %q", line)
		}
		l := listing{mode: f[0], nlink: f[1], uid: f[2], gid: f[3], sizeOrDev: f[4]}
		rest := strings.Join(f[8:], " ")
		if name, target, ok := strings.Cut(rest, " -> "); ok {
			l.name, l.link = name, target
		} else {
			l.name, _, _ = strings.Cut(rest, " link to ")
		}
		m[l.name] = l
	}
	return m
}

// wantListing is what a -tv listing should show for the sample entries.
func wantListing(es []entry) map[string]listing {
	m := map[string]listing{}
	for _, e := range withSizes(es) {
		h := e.h
		l := listing{mode: lsMode(h.Mode), uid: fmt.Sprint(h.UID), gid: fmt.Sprint(h.GID), name: h.Name, link: h.Linkname}
		switch {
		case h.NLink != 0:
			l.nlink = fmt.Sprint(h.NLink)
		case h.Type() == TypeDir:
			l.nlink = "2"
		default:
			l.nlink = "1"
		}
		switch h.Type() {
		case TypeChar, TypeBlock:
			l.sizeOrDev = fmt.Sprintf("%d,%d", h.RDevMajor, h.RDevMinor)
		case TypeSymlink:
			l.sizeOrDev = fmt.Sprint(len(h.Linkname) + 1)
		default:
			l.sizeOrDev = fmt.Sprint(h.Size)
		}
		m[h.Name] = l
	}
	return m
}

func compareListing(t *testing.T, tool string, got, want map[string]listing) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s does not list %s", tool, name)
			continue
		}
		if g != w {
			t.Errorf("%s lists %s as\n %+v\nwant %+v", tool, name, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s lists %d entries, want %d", tool, len(got), len(want))
	}
}

func TestGNUCpioList(t *testing.T) {
	cpio := lookTool(t, "cpio")
	for _, csum := range []bool{false, true} {
		archive := writeArchive(t, sampleEntries(), WithChecksum(csum))
		args := []string{"-itv", "--quiet", "--numeric-uid-gid"}
		if csum {
			args = append(args, "-H", "crc")
		}
		out := run(t, archive, "", cpio, args...)
		got := parseListing(t, out)
		// GNU cpio does not show the size of a symlink's data.
		want := wantListing(sampleEntries())
		for name, l := range want {
			if l.link != "" {
				l.sizeOrDev = got[name].sizeOrDev
				want[name] = l
			}
		}
		compareListing(t, "cpio -itv", got, want)
	}
}

func TestBsdtarList(t *testing.T) {
	bsdtar := lookTool(t, "bsdtar")
	out := run(t, writeArchive(t, sampleEntries()), "", bsdtar, "-tvf", "-", "--numeric-owner")
	got := parseListing(t, out)
	want := wantListing(sampleEntries())
	for name, l := range want {
		// bsdtar shows the size of the data-carrying name for every hard
		// link ("link to" the first name).
		if strings.HasPrefix(name, "hl/") {
			l.sizeOrDev = got[name].sizeOrDev
		}
		want[name] = l
	}
	compareListing(t, "bsdtar -tv", got, want)
}

// TestGNUCpioExtract unpacks an archive with GNU cpio (as root it makes
// the device nodes and keeps ownership) and compares the tree with what
// was written.
func TestGNUCpioExtract(t *testing.T) {
	cpio := lookTool(t, "cpio")
	root := os.Geteuid() == 0
	es := sampleEntries()
	if !root {
		t.Log("not root: device nodes and ownership are not checked")
		var keep []entry
		for _, e := range es {
			if e.h.Type() != TypeChar && e.h.Type() != TypeBlock {
				keep = append(keep, e)
			}
		}
		es = keep
	}
	for _, opts := range [][]WriterOption{nil, {WithChecksum(true), WithDataAlign(512)}} {
		dir := t.TempDir()
		archive := writeArchive(t, es, opts...)
		out := run(t, archive, dir, "sh", "-c", "umask 0 && exec "+cpio+" -idm --no-absolute-filenames --quiet")
		if out != "" {
			t.Errorf("cpio -id printed %q", out)
		}
		var first os.FileInfo
		for _, e := range withSizes(es) {
			h := e.h
			p := filepath.Join(dir, h.Name)
			fi, err := os.Lstat(p)
			if err != nil {
				t.Errorf("%s: %v", h.Name, err)
				continue
			}
			st := fi.Sys().(*syscall.Stat_t)
			if h.Type() != TypeDir && st.Mode != h.Mode { // directory modes are checked below
				t.Errorf("%s: mode %#o, want %#o", h.Name, st.Mode, h.Mode)
			}
			if root && (st.Uid != h.UID || st.Gid != h.GID) {
				t.Errorf("%s: owner %d:%d, want %d:%d", h.Name, st.Uid, st.Gid, h.UID, h.GID)
			}
			switch h.Type() {
			case TypeReg:
				b, err := os.ReadFile(p)
				if err != nil || (!bytes.Equal(b, e.data) && h.LinkKey == "") {
					t.Errorf("%s: content %d bytes (%v), want %d", h.Name, len(b), err, len(e.data))
				}
				if h.MTime != 0 && fi.ModTime().Unix() != h.MTime {
					t.Errorf("%s: mtime %d, want %d", h.Name, fi.ModTime().Unix(), h.MTime)
				}
			case TypeDir:
				if st.Mode&TypeMask != TypeDir || st.Mode&ModePerm != h.Mode&ModePerm {
					t.Errorf("%s: mode %#o, want %#o", h.Name, st.Mode, h.Mode)
				}
			case TypeSymlink:
				if target, err := os.Readlink(p); err != nil || target != h.Linkname {
					t.Errorf("%s: link to %q (%v), want %q", h.Name, target, err, h.Linkname)
				}
			case TypeChar, TypeBlock:
				if unix.Major(uint64(st.Rdev)) != h.RDevMajor || unix.Minor(uint64(st.Rdev)) != h.RDevMinor {
					t.Errorf("%s: device %d:%d, want %d:%d", h.Name, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)), h.RDevMajor, h.RDevMinor)
				}
			}
			if h.LinkKey != "" {
				if first == nil {
					first = fi
				} else if !os.SameFile(first, fi) {
					t.Errorf("%s: not the same inode as the first hard link", h.Name)
				}
				if b, _ := os.ReadFile(p); string(b) != "linked data" {
					t.Errorf("%s: hard link content %q", h.Name, b)
				}
				if st.Nlink != 3 {
					t.Errorf("%s: %d links on disk, want 3", h.Name, st.Nlink)
				}
			}
		}
	}
}

// TestGNUCpioVerifiesChecksums has GNU cpio check the 070702 sums, and
// checks that it would notice a wrong one.
func TestGNUCpioVerifiesChecksums(t *testing.T) {
	cpio := lookTool(t, "cpio")
	archive := writeArchive(t, sampleEntries(), WithChecksum(true))
	if out := run(t, archive, t.TempDir(), cpio, "-i", "--only-verify-crc", "--quiet"); out != "" {
		t.Errorf("cpio --only-verify-crc: %s", out)
	}
	bad := bytes.Clone(archive)
	i := bytes.Index(bad, []byte("hello\n"))
	bad[i] = 'j'
	out := run(t, bad, t.TempDir(), cpio, "-i", "--only-verify-crc", "--quiet")
	if !strings.Contains(out, "dir/file: checksum error") {
		t.Errorf("cpio did not notice a corrupted file: %q", out)
	}
}

// run runs a tool with stdin as input and returns stdout+stderr; the
// tool's failure fails the test.
func run(t *testing.T, stdin []byte, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
