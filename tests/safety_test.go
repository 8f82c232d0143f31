package tests

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// victim is something an output path may already be. make creates it at
// p; root marks the kinds that need root (device nodes).
type victim struct {
	name string
	root bool
	make func(t *testing.T, p string)
	want string // in the error
}

func victims() []victim {
	return []victim{
		{"char device", true, func(t *testing.T, p string) {
			// The numbers of /dev/null, made in the test's own directory.
			must(t, unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		}, "character device"},
		{"block device", true, func(t *testing.T, p string) {
			must(t, unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))))
		}, "block device"},
		{"FIFO", false, func(t *testing.T, p string) { must(t, mkfifo(p)) }, "FIFO"},
		{"socket", false, func(t *testing.T, p string) {
			l, err := net.Listen("unix", p)
			must(t, err)
			t.Cleanup(func() { l.Close() })
		}, "socket"},
		{"directory", false, func(t *testing.T, p string) {
			// -o DIR means DIR/initrd.img-VERSION: make that a directory too.
			must(t, os.MkdirAll(filepath.Join(p, "initrd.img-1"), 0o755))
		}, "directory"},
		{"dangling symlink", false, func(t *testing.T, p string) {
			must(t, os.Symlink("nowhere", p))
		}, "dangling symlink"},
		{"symlink to a FIFO", false, func(t *testing.T, p string) {
			must(t, mkfifo(p+".fifo"))
			must(t, os.Symlink(filepath.Base(p)+".fifo", p))
		}, "FIFO"},
	}
}

// snapshot describes a path without following it, and what it points to.
func snapshot(p string) string {
	var b strings.Builder
	for _, q := range []string{p, p + ".fifo", filepath.Join(p, "initrd.img-1")} {
		fi, err := os.Lstat(q)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		unix.Lstat(q, &st)
		b.WriteString(q + " " + fi.Mode().String() + " " + strconv.FormatUint(st.Rdev, 10) + "\n")
	}
	return b.String()
}

// writers are the commands that write a file: the image, --stats and
// spec -o. Each gets the path it writes.
func writers(dir string) []struct {
	name string
	args func(out string) []string
	tool string // the prefix of its error lines
} {
	root := filepath.Join(dir, "root")
	m := filepath.Join(dir, "m.json")
	spec := filepath.Join(dir, "spec")
	return []struct {
		name string
		args func(out string) []string
		tool string
	}{
		{"image", func(out string) []string {
			return []string{"-m", m, "--root", root, "-o", out, "--kernel-version", "1"}
		}, "mkinitrd-ng: "},
		{"stats", func(out string) []string {
			return []string{"-m", m, "--root", root, "-o", filepath.Join(dir, "img"), "--stats", out}
		}, "mkinitrd-ng: "},
		{"spec", func(out string) []string { return []string{"spec", spec, "-o", out} }, "mkinitrd-ng spec: "},
	}
}

// outputFixture makes a root with /etc/a, a manifest of it and a spec
// of one file, in dir.
func outputFixture(t *testing.T, dir string) {
	t.Helper()
	writeFiles(t, dir, map[string]string{
		"root/etc/a": "a\n",
		"m.json":     `{"contents":[{"source":"/etc/a"}]}`,
		"spec":       "file /a " + filepath.Join(dir, "root/etc/a") + " 0644 0 0\n",
	})
}

// TestOutputRules: no writer replaces a device, FIFO, socket or
// directory, nor writes through a dangling symlink or one to such a
// file; the error names the path and what it is.
func TestOutputRules(t *testing.T) {
	for _, v := range victims() {
		for _, w := range writers("") {
			t.Run(v.name+"/"+w.name, func(t *testing.T) {
				if v.root && os.Geteuid() != 0 {
					t.Skip("mknod needs root")
				}
				dir := t.TempDir()
				outputFixture(t, dir)
				out := filepath.Join(dir, "victim")
				v.make(t, out)
				before := snapshot(out)
				args := writers(dir)[indexOf(w.name)].args(out)
				r := run(t, nil, args...)
				if r.code != 1 {
					t.Errorf("exit %d, want 1; stderr %q", r.code, r.stderr)
				}
				for _, want := range []string{w.tool, out, v.want} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr %q lacks %q", r.stderr, want)
					}
				}
				if after := snapshot(out); after != before {
					t.Errorf("the victim changed:\n%s\nwas:\n%s", after, before)
				}
				if _, err := os.Stat(filepath.Join(dir, "img")); w.name == "stats" && err == nil {
					t.Error("the image was written although --stats cannot be")
				}
			})
		}
	}
}

func indexOf(writer string) int {
	for i, w := range writers("") {
		if w.name == writer {
			return i
		}
	}
	panic(writer)
}

// TestOutputSymlink: an output that is a symlink to a regular file
// replaces the file it points to and keeps the symlink, for every
// writer; a symlink to a new path in a directory is followed as well.
func TestOutputSymlink(t *testing.T) {
	for _, w := range writers("") {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			outputFixture(t, dir)
			must(t, os.Mkdir(filepath.Join(dir, "boot"), 0o755))
			real := filepath.Join(dir, "boot/real")
			must(t, os.WriteFile(real, []byte("OLD"), 0o644))
			link := filepath.Join(dir, "link")
			must(t, os.Symlink("boot/real", link))
			r := run(t, nil, writers(dir)[indexOf(w.name)].args(link)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if target, err := os.Readlink(link); err != nil || target != "boot/real" {
				t.Errorf("the symlink is now %q, %v", target, err)
			}
			if data, _ := os.ReadFile(real); string(data) == "OLD" {
				t.Error("the symlink's target was not replaced")
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "boot")); len(entries) != 1 {
				t.Errorf("files in the target's directory: %v", entries)
			}
		})
	}
}

// TestOutputIsInput: an output that is an input (by device and inode:
// the manifest, a source, the spec, or the other output) is refused and
// left as it was.
func TestOutputIsInput(t *testing.T) {
	tests := []struct {
		name   string
		args   func(dir string) []string
		victim string // relative to dir
		want   []string
	}{
		{"image is the manifest", func(d string) []string {
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/m.json"}
		}, "m.json", []string{"m.json", "is the manifest"}},
		{"image is the manifest by a hard link", func(d string) []string {
			must(t, os.Link(d+"/m.json", d+"/hard"))
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/hard"}
		}, "m.json", []string{"hard", "is the manifest"}},
		{"image is a source", func(d string) []string {
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/root/etc/a"}
		}, "root/etc/a", []string{"/etc/a", "is an output"}},
		{"image is in a source directory", func(d string) []string {
			must(t, os.WriteFile(d+"/dm.json", []byte(`{"contents":[{"source":"/etc"}]}`), 0o644))
			must(t, os.WriteFile(d+"/root/etc/img", []byte("OLD"), 0o600))
			return []string{"-m", d + "/dm.json", "--root", d + "/root", "-o", d + "/root/etc/img"}
		}, "root/etc/img", []string{"/etc/img", "is an output"}},
		{"stats is the image", func(d string) []string {
			must(t, os.WriteFile(d+"/img", []byte("OLD"), 0o600))
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/img", "--stats", d + "/img"}
		}, "img", []string{"img", "--stats", "--output"}},
		{"stats is the new image", func(d string) []string {
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/new", "--stats", d + "/./new"}
		}, "m.json", []string{"new", "--stats", "--output"}},
		{"stats is the image by a symlink", func(d string) []string {
			must(t, os.WriteFile(d+"/img", []byte("OLD"), 0o600))
			must(t, os.Symlink("img", d+"/img-link"))
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/img", "--stats", d + "/img-link"}
		}, "img", []string{"img-link", "--stats", "--output"}},
		{"stats is the manifest", func(d string) []string {
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/img", "--stats", d + "/m.json"}
		}, "m.json", []string{"m.json", "is the manifest"}},
		{"stats is a source", func(d string) []string {
			return []string{"-m", d + "/m.json", "--root", d + "/root", "-o", d + "/img", "--stats", d + "/root/etc/a"}
		}, "root/etc/a", []string{"/etc/a", "is an output"}},
		{"spec output is the spec", func(d string) []string {
			return []string{"spec", d + "/spec", "-o", d + "/spec"}
		}, "spec", []string{"spec", "is the spec"}},
		{"spec output is a source", func(d string) []string {
			return []string{"spec", d + "/spec", "-o", d + "/root/etc/a"}
		}, "root/etc/a", []string{"/etc/a", "is the output"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			outputFixture(t, dir)
			args := tt.args(dir)
			victim := filepath.Join(dir, tt.victim)
			before, err := os.ReadFile(victim)
			must(t, err)
			r := run(t, nil, args...)
			if r.code == 0 {
				t.Fatalf("exit 0; stderr %q", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
			if after, _ := os.ReadFile(victim); !bytes.Equal(after, before) {
				t.Errorf("%s changed to %d bytes", tt.victim, len(after))
			}
			if temps, _ := filepath.Glob(filepath.Join(dir, "*", ".*.tmp-*")); len(temps) > 0 {
				t.Errorf("temporary files left: %v", temps)
			}
		})
	}
}

// TestOutputInSourceDirectory: an image written into a directory the
// manifest copies does not contain its own temporary file.
func TestOutputInSourceDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"root/data/a": "a\n",
		"m.json":      `{"contents":[{"source":"/data"}]}`,
	})
	out := filepath.Join(dir, "root/data/out.img")
	r := run(t, nil, "-m", dir+"/m.json", "--root", dir+"/root", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	img, err := os.ReadFile(out)
	must(t, err)
	if bytes.Contains(img, []byte(".tmp-")) || bytes.Contains(img, []byte("out.img")) {
		t.Error("the image contains its own temporary file")
	}
}

// TestOutputMode: a new image is 0600 whatever the umask; an existing
// one keeps its mode and, as root, its owner.
func TestOutputMode(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file yet
		owner    int         // chowned to owner:owner when root
		want     os.FileMode
	}{
		{"new", 0, 0, 0o600},
		{"existing 0600", 0o600, 0, 0o600},
		{"existing 0640 of another owner", 0o640, 4321, 0o640},
		{"existing 0755", 0o755, 0, 0o755},
	}
	for _, tt := range tests {
		for _, w := range []string{"image", "spec"} {
			t.Run(tt.name+"/"+w, func(t *testing.T) {
				dir := t.TempDir()
				outputFixture(t, dir)
				out := filepath.Join(dir, "out")
				if tt.existing != 0 {
					must(t, os.WriteFile(out, []byte("OLD"), tt.existing))
					must(t, os.Chmod(out, tt.existing))
					if tt.owner != 0 && os.Geteuid() == 0 {
						must(t, os.Chown(out, tt.owner, tt.owner))
					}
				}
				old := syscall.Umask(0)
				r := run(t, nil, writers(dir)[indexOf(w)].args(out)...)
				syscall.Umask(old)
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				fi, err := os.Stat(out)
				must(t, err)
				if fi.Mode().Perm() != tt.want {
					t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.want)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if os.Geteuid() == 0 && (int(st.Uid) != tt.owner || int(st.Gid) != tt.owner) {
					t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, tt.owner, tt.owner)
				}
			})
		}
	}
}

// TestOutputStaleTemporaries: a build removes the temporary files a
// killed build left next to its output (our exact name pattern, older
// than a minute, not in use), and nothing else.
func TestOutputStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	outputFixture(t, dir)
	old := time.Now().Add(-2 * time.Minute)
	files := []struct {
		name   string
		old    bool
		remove bool
	}{
		{".img.tmp-123456", true, true},
		{".img.tmp-999", false, false},          // young: maybe a running build's
		{".img.tmp-12ab", true, false},          // not our pattern
		{".img.tmp-", true, false},              // not our pattern
		{".other.tmp-123", true, false},         // another output's
		{"img.tmp-123", true, false},            // not hidden
		{".img.tmp-123.bak", true, false},       // a suffix
		{"sub/.img.tmp-123", true, false},       // another directory
		{".img.tmp-4242", true, false},          // a FIFO: made below
		{".img.tmp-77", true, false},            // locked: a running build's
		{".img.tmp-88", true, false},            // a directory: made below
		{".img.tmp-5555", true, true},           // a second stale one
		{".img.tmp-1.tmp-2", true, false},       // not our pattern
		{".IMG.tmp-123", true, false},           // another name
		{".img.TMP-123", true, false},           // another pattern
		{"..img.tmp-123", true, false},          // another name
		{".img.tmp-0123", true, true},           // digits are digits
		{".img.tmp-12345678901234", true, true}, // so are many
	}
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		switch f.name {
		case ".img.tmp-4242":
			must(t, mkfifo(p))
		case ".img.tmp-88":
			must(t, os.Mkdir(p, 0o755))
		default:
			must(t, os.WriteFile(p, []byte("x"), 0o600))
		}
		if f.old {
			must(t, os.Chtimes(p, old, old))
		}
	}
	// A build still running holds an flock on its temporary file.
	locked, err := os.Open(filepath.Join(dir, ".img.tmp-77"))
	must(t, err)
	defer locked.Close()
	must(t, unix.Flock(int(locked.Fd()), unix.LOCK_EX))

	r := run(t, nil, "-m", dir+"/m.json", "--root", dir+"/root", "-o", dir+"/img")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(dir, f.name))
		if gone := err != nil; gone != f.remove {
			t.Errorf("%s: removed %v, want %v", f.name, gone, f.remove)
		}
	}
}

// TestSignalReachesCompressor: SIGTERM, SIGINT or SIGHUP to mkinitrd-ng
// reaches a cmd: compressor's whole process group; no child outlives
// mkinitrd-ng.
func TestSignalReachesCompressor(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			m := filepath.Join(dir, "m.json")
			must(t, os.WriteFile(m, []byte(`{"contents": [{"target": "/a", "text": "x"}]}`), 0o644))
			pids := filepath.Join(dir, "pids")
			// The shell and a grandchild, sleep, write their pids.
			compress := "cmd:sh -c 'sleep 300 & echo $$ $! > " + pids + "; wait; cat'"
			cmd := exec.Command(exe, "-m", m, "-o", filepath.Join(dir, "img"), "-c", compress)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			must(t, cmd.Start())
			waitFor(t, func() bool { b, _ := os.ReadFile(pids); return bytes.HasSuffix(b, []byte("\n")) })
			must(t, cmd.Process.Signal(sig))
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(sig) {
				t.Errorf("exit = %v, want status %d; stderr %q", err, 128+int(sig), stderr.String())
			}
			b, _ := os.ReadFile(pids)
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				deadline := time.Now().Add(5 * time.Second)
				for alive(pid) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if alive(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("process %d outlived mkinitrd-ng", pid)
				}
			}
		})
	}
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// TestJobsCapped: an absurd --jobs is capped with a warning, not a
// crash.
func TestJobsCapped(t *testing.T) {
	dir := t.TempDir()
	outputFixture(t, dir)
	for _, compress := range []string{"gzip", "none", "zstd-cli"} {
		r := run(t, nil, "-m", dir+"/m.json", "--root", dir+"/root", "-o", dir+"/img", "-c", compress, "--jobs", "2147483647")
		if r.code != 0 {
			t.Fatalf("-c %s: exit %d: %.500s", compress, r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "warning: --jobs 2147483647") {
			t.Errorf("-c %s: stderr %q lacks the warning", compress, r.stderr)
		}
	}
}

// TestDryRunWriteError: --dry-run fails when standard output cannot be
// written (a full device, made with mknod in the test's directory).
func TestDryRunWriteError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := t.TempDir()
	outputFixture(t, dir)
	full := filepath.Join(dir, "full")
	must(t, unix.Mknod(full, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 7))))
	f, err := os.OpenFile(full, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	for _, args := range [][]string{{"--dry-run"}, {"--dry-run", "-v"}, {"--print-spec"}} {
		cmd := exec.Command(exe, append([]string{"-m", dir + "/m.json", "--root", dir + "/root"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = f, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%v: exit %v, want 1", args, err)
		}
		if !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("%v: stderr %q", args, stderr.String())
		}
	}
}

// TestStatsStdout: --stats - writes the statistics to standard output,
// not to a file named "-"; with -o - it is a usage error.
func TestStatsStdout(t *testing.T) {
	dir := t.TempDir()
	outputFixture(t, dir)
	r := runCmdIn(t, dir, nil, nil, exe, "-m", "m.json", "--root", "root", "-o", "img", "--stats", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var s struct {
		Output          string `json:"output"`
		CompressedBytes int64  `json:"compressed_bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Output != "img" || s.CompressedBytes == 0 {
		t.Errorf("stdout %q: %+v, %v", r.stdout, s, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "-")); err == nil {
		t.Error("wrote a file named -")
	}
	r = runCmdIn(t, dir, nil, nil, exe, "-m", "m.json", "--root", "root", "-o", "-", "--stats", "-")
	if r.code != 2 || !strings.Contains(r.stderr, "standard output") {
		t.Errorf("-o - --stats -: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestEmptyManifest: an empty manifest says so.
func TestEmptyManifest(t *testing.T) {
	for _, stdin := range []string{"", " \n\t\n"} {
		r := runCmd(t, nil, []byte(stdin), exe, "-m", "-", "-o", filepath.Join(t.TempDir(), "img"))
		checkFailure(t, r, 1, []string{"<stdin>: empty manifest"})
	}
}

// TestSpecFlags: in spec, -c is --compress, as everywhere else; the
// checksum format has only the long --checksum.
func TestSpecFlags(t *testing.T) {
	dir := t.TempDir()
	outputFixture(t, dir)
	tests := []struct {
		args  []string
		magic string
	}{
		{[]string{"-c", "gzip"}, "\x1f\x8b"},
		{[]string{"--checksum"}, "070702"},
		{nil, "070701"},
	}
	for _, tt := range tests {
		out := filepath.Join(dir, "out")
		r := run(t, nil, append([]string{"spec", dir + "/spec", "-o", out}, tt.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, r.code, r.stderr)
		}
		if img, _ := os.ReadFile(out); !bytes.HasPrefix(img, []byte(tt.magic)) {
			t.Errorf("%v: starts with %q, want %q", tt.args, img[:min(6, len(img))], tt.magic)
		}
	}
	r := run(t, nil, "spec", "--help")
	if !strings.Contains(r.stderr, "--checksum") || strings.Contains(r.stderr, "-c, --checksum") ||
		!strings.Contains(r.stderr, "-c, --compress") {
		t.Errorf("spec --help:\n%s", r.stderr)
	}
}
