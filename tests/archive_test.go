package tests

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// fixtureManifest uses every kind of manifest entry.
const fixtureManifest = `{"contents": [
 {"source": "/usr/bin/hello"},
 {"source": "/lib/data.txt"},
 {"source": "/etc/conf"},
 {"source": "/opt/x"}, {"source": "/opt/y"},
 {"source": "/usr/share/big"},
 {"source": "/usr/lib/data.txt", "target": "/copied.txt", "mode": "0600", "uid": 7, "gid": 8},
 {"source": "/usr/bin/hello", "target": "/bin/hello-link", "link": true},
 {"target": "/etc/motd", "text": "hi\n"},
 {"target": "/var/empty", "type": "dir", "mode": "0700"},
 {"target": "/sbin/init", "symlink": "../usr/bin/hello"},
 {"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
 {"target": "/dev/nvme", "type": "block", "major": 259, "minor": 300},
 {"target": "/run/fifo", "type": "fifo"},
 {"target": "/run/sock", "type": "socket", "uid": 3, "gid": 4}
]}`

// listed is one entry as a listing tool shows it.
type listed struct {
	mode, owner, dev, link string
}

// fixtureWant is what cpio -itv must show for fixtureManifest.
var fixtureWant = map[string]listed{
	"bin":              {"drwxr-xr-x", "0:0", "", ""},
	"bin/sh":           {"-rwxr-xr-x", "0:0", "", ""},
	"bin/hello-link":   {"lrwxrwxrwx", "0:0", "", "/usr/bin/hello"},
	"copied.txt":       {"-rw-------", "7:8", "", ""},
	"dev":              {"drwxr-xr-x", "0:0", "", ""},
	"dev/console":      {"crw-------", "0:0", "5,1", ""},
	"dev/nvme":         {"brw-------", "0:0", "259,300", ""},
	"etc":              {"drwxr-xr-x", "0:0", "", ""},
	"etc/conf":         {"drwxr-x---", "0:0", "", ""},
	"etc/conf/a.conf":  {"-rw-r--r--", "0:0", "", ""},
	"etc/conf/b.conf":  {"-rw-r--r--", "0:0", "", ""},
	"etc/conf/link":    {"lrwxrwxrwx", "0:0", "", "a.conf"},
	"etc/motd":         {"-rw-r--r--", "0:0", "", ""},
	"lib":              {"lrwxrwxrwx", "0:0", "", "usr/lib"},
	"opt":              {"drwxr-xr-x", "0:0", "", ""},
	"opt/x":            {"-rw-r--r--", "0:0", "", ""},
	"opt/y":            {"-rw-r--r--", "0:0", "", ""},
	"run":              {"drwxr-xr-x", "0:0", "", ""},
	"run/fifo":         {"prw-r--r--", "0:0", "", ""},
	"run/sock":         {"srwxr-xr-x", "3:4", "", ""},
	"sbin":             {"drwxr-xr-x", "0:0", "", ""},
	"sbin/init":        {"lrwxrwxrwx", "0:0", "", "../usr/bin/hello"},
	"usr":              {"drwxr-xr-x", "0:0", "", ""},
	"usr/bin":          {"drwxr-xr-x", "0:0", "", ""},
	"usr/bin/hello":    {"-rwxr-xr-x", "0:0", "", ""},
	"usr/lib":          {"drwxr-xr-x", "0:0", "", ""},
	"usr/lib/data.txt": {"-rw-r--r--", "0:0", "", ""},
	"usr/share":        {"drwxr-xr-x", "0:0", "", ""},
	"usr/share/big":    {"-rw-r--r--", "0:0", "", ""},
	"var":              {"drwxr-xr-x", "0:0", "", ""},
	"var/empty":        {"drwx------", "0:0", "", ""},
}

// fixtureRoot makes the source tree of fixtureManifest.
func fixtureRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	big := make([]byte, 300_001)
	rand.Read(big)
	writeFiles(t, root, map[string]string{
		"bin/sh":            "not really a shell\n",
		"usr/bin/hello":     "#!/bin/sh\necho hello\n",
		"usr/lib/data.txt":  "data\n",
		"lib":               "->usr/lib",
		"etc/conf/a.conf":   "a=1\n",
		"etc/conf/b.conf":   "b=2\n",
		"etc/conf/link":     "->a.conf",
		"opt/x":             "shared by two names\n",
		"usr/share/big":     string(big),
		"usr/share/unused":  "not in the manifest\n",
		"etc/not-requested": "no\n",
	})
	must(t, os.Chmod(filepath.Join(root, "bin/sh"), 0o755))
	must(t, os.Chmod(filepath.Join(root, "usr/bin/hello"), 0o755))
	must(t, os.Chmod(filepath.Join(root, "etc/conf"), 0o750))
	must(t, os.Link(filepath.Join(root, "opt/x"), filepath.Join(root, "opt/y")))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// buildFixture builds the fixture with extra flags and returns the image.
func buildFixture(t *testing.T, root string, env []string, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(manifest, []byte(fixtureManifest), 0o644))
	out := filepath.Join(dir, "initrd.img")
	args := append([]string{"--manifest", manifest, "--root", root, "-o", out}, extra...)
	r := run(t, env, args...)
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(out)
	must(t, err)
	return data
}

// parseListing reads `cpio -itv` or `bsdtar -tv` output.
func parseListing(t *testing.T, out string) map[string]listed {
	t.Helper()
	got := map[string]listed{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			t.Fatalf("unexpected listing line %q", line)
		}
		l := listed{mode: f[0], owner: f[2] + ":" + f[3]}
		rest := f[4:]
		switch {
		case strings.HasSuffix(rest[0], ","): // cpio shows a device as "5," "1"
			l.dev = rest[0] + rest[1]
			rest = rest[1:]
		case strings.Contains(rest[0], ","): // bsdtar as "5,1"
			l.dev = rest[0]
		}
		rest = rest[4:] // size and three date fields
		name := rest[0]
		if len(rest) >= 3 && rest[1] == "->" {
			l.link = rest[2]
		}
		// bsdtar shows a hard link's later names with 'h' and "link to".
		l.mode = strings.Replace(l.mode, "h", "-", 1)
		got[strings.TrimPrefix(name, "./")] = l
	}
	return got
}

func compareListing(t *testing.T, tool string, got map[string]listed) {
	t.Helper()
	var names []string
	for n := range fixtureWant {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		if !ok {
			t.Errorf("%s: %s missing from the listing", tool, n)
			continue
		}
		if g != fixtureWant[n] {
			t.Errorf("%s: %s = %+v, want %+v", tool, n, g, fixtureWant[n])
		}
	}
	for n := range got {
		if _, ok := fixtureWant[n]; !ok {
			t.Errorf("%s: unexpected entry %s", tool, n)
		}
	}
}

func TestRealToolsListArchive(t *testing.T) {
	root := fixtureRoot(t)
	img := buildFixture(t, root, nil, "-c", "none")
	path := filepath.Join(t.TempDir(), "a.cpio")
	must(t, os.WriteFile(path, img, 0o644))

	r := runCmd(t, nil, img, "cpio", "-itv", "--numeric-uid-gid")
	if r.code != 0 {
		t.Fatalf("cpio -itv: %s", r.stderr)
	}
	compareListing(t, "cpio -itv", parseListing(t, r.stdout))
	compareListing(t, "bsdtar -tv", parseListing(t, mustRun(t, "bsdtar", "-tvf", path, "--numeric-owner")))
}

func TestCpioExtractsSameBytes(t *testing.T) {
	root := fixtureRoot(t)
	img := buildFixture(t, root, nil, "-c", "none")
	dest := t.TempDir()
	cmd := runCmdIn(t, dest, nil, img, "cpio", "-id", "--no-absolute-filenames", "--quiet")
	if cmd.code != 0 {
		t.Fatalf("cpio -id: %s", cmd.stderr)
	}
	for _, p := range []string{"usr/bin/hello", "usr/lib/data.txt", "etc/conf/a.conf", "opt/x", "opt/y", "usr/share/big", "bin/sh"} {
		want, _ := os.ReadFile(filepath.Join(root, p))
		got, err := os.ReadFile(filepath.Join(dest, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: extracted content differs (err %v, %d bytes, want %d)", p, err, len(got), len(want))
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "copied.txt")); string(got) != "data\n" {
		t.Errorf("copied.txt = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "etc/motd")); string(got) != "hi\n" {
		t.Errorf("etc/motd = %q", got)
	}
	x, err1 := os.Stat(filepath.Join(dest, "opt/x"))
	y, err2 := os.Stat(filepath.Join(dest, "opt/y"))
	if err1 != nil || err2 != nil || x.Sys().(*syscall.Stat_t).Ino != y.Sys().(*syscall.Stat_t).Ino {
		t.Errorf("opt/x and opt/y are not one hard-linked file after extraction (%v %v)", err1, err2)
	}
	if _, err := os.Lstat(filepath.Join(dest, "usr/share/unused")); err == nil {
		t.Error("usr/share/unused was archived although nothing asked for it")
	}
}
