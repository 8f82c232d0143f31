package atomicfile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestResolve: what may be an output, what it resolves to, and the
// errors of what may not.
func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		root    bool // mknod needs root
		setup   func(t *testing.T, dir string)
		path    string // relative to dir
		want    string // Target.Path relative to dir, for successes
		exists  bool
		err     error
		message string
	}{
		{name: "new", path: "new", want: "new"},
		{name: "regular", setup: file("f"), path: "f", want: "f", exists: true},
		{name: "symlink to a file", setup: chain(file("f"), link("f", "l")), path: "l", want: "f", exists: true},
		{name: "symlink chain", setup: chain(file("d/f"), link("d/f", "l1"), link("l1", "l2")), path: "l2", want: "d/f", exists: true},
		{name: "new in a symlinked directory", setup: chain(dir("real"), link("real", "d")), path: "d/new", want: "d/new"},
		{name: "symlink through a symlinked directory", setup: chain(dir("a/b"), link("a/b", "d"), file("a/f"), link("d/../f", "l")), path: "l", want: "a/f", exists: true},
		{name: "symlink loop", setup: chain(link("l2", "l1"), link("l1", "l2")), path: "l1", err: syscall.ELOOP, message: "l1: too many levels of symbolic links"},
		{name: "char device", root: true, setup: node("c", unix.S_IFCHR, 1, 3), path: "c", err: ErrNotRegular, message: "c: is a character device"},
		{name: "block device", root: true, setup: node("b", unix.S_IFBLK, 7, 0), path: "b", err: ErrNotRegular, message: "b: is a block device"},
		{name: "FIFO", setup: fifo("p"), path: "p", err: ErrNotRegular, message: "p: is a FIFO"},
		{name: "socket", setup: socket("s"), path: "s", err: ErrNotRegular, message: "s: is a socket"},
		{name: "directory", setup: dir("d"), path: "d", err: ErrNotRegular, message: "d: is a directory"},
		{name: "symlink to a FIFO", setup: chain(fifo("p"), link("p", "l")), path: "l", err: ErrNotRegular, message: "l: is a FIFO"},
		{name: "dangling symlink", setup: link("nowhere", "l"), path: "l", err: ErrDangling, message: "l: symlink to nowhere, which does not exist"},
		{name: "symlink into a missing directory", setup: link("no/where", "l"), path: "l", err: ErrDangling, message: "l: symlink to no/where, which does not exist"},
		{name: "missing directory", path: "no/such", err: fs.ErrNotExist, message: "no/such: no such file or directory"},
		{name: "file as directory", setup: file("f"), path: "f/x", err: syscall.ENOTDIR, message: "f/x: not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("mknod needs root")
			}
			d := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, d)
			}
			got, err := Resolve(filepath.Join(d, tt.path))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.message) {
					t.Fatalf("error %v, want %v containing %q", err, tt.err, tt.message)
				}
				return
			}
			must(t, err)
			real, _ := filepath.EvalSymlinks(filepath.Join(d, tt.want))
			if resolved, _ := filepath.EvalSymlinks(got.Path); tt.exists && resolved != real {
				t.Errorf("Path %s is %s, want %s", got.Path, resolved, real)
			}
			if !tt.exists && filepath.Clean(got.Path) != filepath.Join(d, tt.want) {
				t.Errorf("Path %s, want %s", got.Path, filepath.Join(d, tt.want))
			}
			if (got.Info != nil) != tt.exists {
				t.Errorf("Path %s (exists %v), want %s (%v)", got.Path, got.Info != nil, tt.want, tt.exists)
			}
		})
	}
}

func file(p string) func(*testing.T, string) {
	return func(t *testing.T, d string) {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(d, p), []byte("OLD"), 0o644))
	}
}

func dir(p string) func(*testing.T, string) {
	return func(t *testing.T, d string) { must(t, os.MkdirAll(filepath.Join(d, p), 0o755)) }
}

func link(target, p string) func(*testing.T, string) {
	return func(t *testing.T, d string) { must(t, os.Symlink(target, filepath.Join(d, p))) }
}

func fifo(p string) func(*testing.T, string) {
	return func(t *testing.T, d string) { must(t, unix.Mkfifo(filepath.Join(d, p), 0o644)) }
}

func node(p string, typ uint32, major, minor uint32) func(*testing.T, string) {
	return func(t *testing.T, d string) {
		must(t, unix.Mknod(filepath.Join(d, p), typ|0o600, int(unix.Mkdev(major, minor))))
	}
}

func socket(p string) func(*testing.T, string) {
	return func(t *testing.T, d string) {
		l, err := net.Listen("unix", filepath.Join(d, p))
		must(t, err)
		t.Cleanup(func() { l.Close() })
	}
}

func chain(fs ...func(*testing.T, string)) func(*testing.T, string) {
	return func(t *testing.T, d string) {
		for _, f := range fs {
			f(t, d)
		}
	}
}

// TestUnsafeSymlink: a symlink of another user in a sticky
// world-writable directory is refused; ours, or the directory owner's,
// is followed.
func TestUnsafeSymlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	tests := []struct {
		name      string
		linkOwner int
		dirOwner  int
		sticky    bool
		err       error
	}{
		{"another user's in /tmp", 4321, 0, true, ErrUnsafeSymlink},
		{"ours in /tmp", 0, 0, true, nil},
		{"the directory owner's", 4321, 4321, true, nil},
		{"another user's, not sticky", 4321, 0, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "tmp")
			must(t, os.Mkdir(d, 0o777))
			mode := os.FileMode(0o777)
			if tt.sticky {
				mode |= os.ModeSticky
			}
			must(t, os.Chmod(d, mode))
			must(t, os.Chown(d, tt.dirOwner, tt.dirOwner))
			must(t, os.WriteFile(filepath.Join(d, "f"), nil, 0o644))
			must(t, os.Symlink("f", filepath.Join(d, "l")))
			must(t, os.Lchown(filepath.Join(d, "l"), tt.linkOwner, tt.linkOwner))
			_, err := Resolve(filepath.Join(d, "l"))
			if !errors.Is(err, tt.err) && !(err == nil && tt.err == nil) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}
}

// TestCreateMode: a new file gets perm exactly, whatever the umask; a
// replaced one keeps its mode and owner; the symlink stays a symlink.
func TestCreateMode(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: none
		owner    int
		perm     os.FileMode
		want     os.FileMode
	}{
		{"new 0600", 0, 0, 0o600, 0o600},
		{"new 0644", 0, 0, 0o644, 0o644},
		{"existing 0600 stays", 0o600, 0, 0o644, 0o600},
		{"existing 0640 of another owner", 0o640, 4321, 0o600, 0o640},
		{"existing setgid", 0o755 | os.ModeSetgid, 0, 0o600, 0o755 | os.ModeSetgid},
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.owner != 0 && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			d := t.TempDir()
			p := filepath.Join(d, "img")
			if tt.existing != 0 {
				must(t, os.WriteFile(p, []byte("OLD"), 0o600))
				if os.Geteuid() == 0 {
					must(t, os.Chown(p, tt.owner, tt.owner))
				}
				must(t, os.Chmod(p, tt.existing))
			}
			name := p
			if tt.existing != 0 {
				name = filepath.Join(d, "link")
				must(t, os.Symlink("img", name))
			}
			f, err := Create(name, tt.perm)
			must(t, err)
			_, err = f.Write([]byte("NEW"))
			must(t, err)
			must(t, f.Commit())
			fi, err := os.Stat(p)
			must(t, err)
			st := fi.Sys().(*syscall.Stat_t)
			wrongOwner := os.Geteuid() == 0 && (int(st.Uid) != tt.owner || int(st.Gid) != tt.owner)
			if fi.Mode()&(fs.ModePerm|fs.ModeSetgid) != tt.want || wrongOwner {
				t.Errorf("mode %v owner %d:%d, want %v %d:%d", fi.Mode(), st.Uid, st.Gid, tt.want, tt.owner, tt.owner)
			}
			if l, err := os.Lstat(name); err != nil || tt.existing != 0 && l.Mode()&fs.ModeSymlink == 0 {
				t.Error("the symlink was replaced")
			}
			if data, _ := os.ReadFile(p); string(data) != "NEW" {
				t.Errorf("content %q", data)
			}
		})
	}
}

// TestCommitRechecks: a FIFO put at the target while the file was being
// written is not replaced.
func TestCommitRechecks(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "img")
	f, err := Create(p, 0o600)
	must(t, err)
	must(t, unix.Mkfifo(p, 0o644))
	if err := f.Commit(); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Commit: %v, want ErrNotRegular", err)
	}
	if entries, _ := os.ReadDir(d); len(entries) != 1 {
		t.Errorf("left: %v", entries)
	}
}

// TestRemoveStale: only our pattern, regular, old, unlocked files go.
func TestRemoveStale(t *testing.T) {
	d := t.TempDir()
	old := time.Now().Add(-2 * StaleAge)
	tests := []struct {
		name   string
		old    bool
		remove bool
	}{
		{".img.tmp-1", true, true},
		{".img.tmp-2", false, false},
		{".img.tmp-x", true, false},
		{".img.tmp-", true, false},
		{".img.tmp-3x", true, false},
		{".im.tmp-4", true, false},
		{"img.tmp-5", true, false},
		{".img.tmp-6", true, false}, // locked below
	}
	for _, tt := range tests {
		p := filepath.Join(d, tt.name)
		must(t, os.WriteFile(p, nil, 0o600))
		if tt.old {
			must(t, os.Chtimes(p, old, old))
		}
	}
	// The lock of another process, as a running build holds it.
	lock := exec.Command("flock", filepath.Join(d, ".img.tmp-6"), "sleep", "30")
	if err := lock.Start(); err != nil {
		t.Skip("flock(1):", err)
	}
	defer lock.Process.Kill()
	waitLocked(t, filepath.Join(d, ".img.tmp-6"))
	RemoveStale(d, "img")
	for _, tt := range tests {
		_, err := os.Lstat(filepath.Join(d, tt.name))
		if gone := err != nil; gone != tt.remove {
			t.Errorf("%s: removed %v, want %v", tt.name, gone, tt.remove)
		}
	}
}

func waitLocked(t *testing.T, p string) {
	for range 500 {
		f, err := os.Open(p)
		must(t, err)
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		f.Close()
		if err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("flock(1) never took the lock")
}

// TestUnchanged: an output written with the bytes it holds stays the
// same file, with a new modification time and no temporary file left;
// any difference, in any place or length, replaces it with exactly the
// new bytes and its mode.
func TestUnchanged(t *testing.T) {
	old := strings.Repeat("0123456789", 100)
	tests := []struct {
		name   string
		writes []string
		kept   bool
	}{
		{"equal, one write", []string{old}, true},
		{"equal, many writes", []string{old[:1], old[1:500], old[500:999], old[999:]}, true},
		{"differs at the start", []string{"X" + old[1:]}, false},
		{"differs in the middle", []string{old[:500], "X" + old[501:]}, false},
		{"differs in the last byte", []string{old[:999], "X"}, false},
		{"shorter", []string{old[:999]}, false},
		{"longer", []string{old, "+"}, false},
		{"longer within a write", []string{old[:500], old[500:] + "+"}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			p := filepath.Join(d, "img")
			must(t, os.WriteFile(p, []byte(old), 0o640))
			past := time.Now().Add(-time.Hour)
			must(t, os.Chtimes(p, past, past))
			before, err := os.Stat(p)
			must(t, err)
			f, err := Create(p, 0o600)
			must(t, err)
			for _, w := range tt.writes {
				if n, err := f.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			must(t, f.Commit())
			after, err := os.Stat(p)
			must(t, err)
			if got := os.SameFile(before, after); got != tt.kept {
				t.Errorf("kept the old file: %v, want %v", got, tt.kept)
			}
			if !after.ModTime().After(past.Add(time.Minute)) {
				t.Errorf("modification time %v not renewed", after.ModTime())
			}
			if after.Mode() != 0o640 {
				t.Errorf("mode %v, want 0640", after.Mode())
			}
			if data, _ := os.ReadFile(p); string(data) != strings.Join(tt.writes, "") {
				t.Errorf("content %d bytes, want %d", len(data), len(strings.Join(tt.writes, "")))
			}
			if entries, _ := os.ReadDir(d); len(entries) != 1 {
				t.Errorf("left: %v", entries)
			}
		})
	}
}

// TestUnchangedAbort: an abandoned write leaves the old file as it was.
func TestUnchangedAbort(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "img")
	must(t, os.WriteFile(p, []byte("OLD CONTENT"), 0o600))
	f, err := Create(p, 0o600)
	must(t, err)
	_, err = f.Write([]byte("OLD"))
	must(t, err)
	_, err = f.Write([]byte(" DIFFERENT"))
	must(t, err)
	f.Abort()
	if data, _ := os.ReadFile(p); string(data) != "OLD CONTENT" {
		t.Errorf("content %q", data)
	}
	if entries, _ := os.ReadDir(d); len(entries) != 1 {
		t.Errorf("left: %v", entries)
	}
}
