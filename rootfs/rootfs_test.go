package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// mkTree builds a tree whose escapes (absolute links, "..") would reach
// host files if they were followed outside the root.
func mkTree(t *testing.T) *FS {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "usr/lib"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "etc/shadow"), []byte("root-shadow"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "usr/lib/libc.so.6"), []byte("libc"), 0o644))
	must(os.Symlink("usr/lib", filepath.Join(dir, "lib")))
	must(os.Symlink("/etc/shadow", filepath.Join(dir, "usr/lib/abs")))
	must(os.Symlink("../../../../../../etc/shadow", filepath.Join(dir, "usr/lib/dotdot")))
	must(os.Symlink("loop2", filepath.Join(dir, "loop1")))
	must(os.Symlink("loop1", filepath.Join(dir, "loop2")))
	must(os.Symlink("/nowhere", filepath.Join(dir, "dangling")))
	f, err := New(dir)
	must(err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestResolve(t *testing.T) {
	f := mkTree(t)
	tests := []struct {
		in, want string
		links    []Link
	}{
		{"/lib/libc.so.6", "/usr/lib/libc.so.6", []Link{{"/lib", "usr/lib"}}},
		{"/lib/abs", "/etc/shadow", []Link{{"/lib", "usr/lib"}, {"/usr/lib/abs", "/etc/shadow"}}},
		{"/usr/lib/dotdot", "/etc/shadow", []Link{{"/usr/lib/dotdot", "../../../../../../etc/shadow"}}},
		{"/dangling", "/nowhere", []Link{{"/dangling", "/nowhere"}}},
		{"/../../etc/shadow", "/etc/shadow", nil},
	}
	for _, tt := range tests {
		got, links, err := f.Resolve(tt.in)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want || !reflect.DeepEqual(links, tt.links) {
			t.Errorf("Resolve(%q) = %q %v, want %q %v", tt.in, got, links, tt.want, tt.links)
		}
	}
	if _, _, err := f.Resolve("/loop1"); err == nil {
		t.Error("Resolve(/loop1): no error for a symlink loop")
	}
}

func TestReadsStayInRoot(t *testing.T) {
	f := mkTree(t)
	for _, p := range []string{"/lib/abs", "/usr/lib/dotdot", "/etc/shadow"} {
		data, err := f.ReadFile(p)
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", p, err)
		}
		if string(data) != "root-shadow" {
			t.Errorf("ReadFile(%s) = %q, want the root's own file", p, data)
		}
	}
	if _, err := f.OpenNoFollow("/lib/abs"); err == nil {
		t.Error("OpenNoFollow followed a final symlink")
	}
	fi, err := f.Lstat("/lib")
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("Lstat(/lib) = %v, %v; want a symlink", fi, err)
	}
	if target, err := f.Readlink("/lib"); err != nil || target != "usr/lib" {
		t.Errorf("Readlink(/lib) = %q, %v", target, err)
	}
}

// TestLstatMatchesOS: Lstat and Stat, which fstat the descriptor
// themselves, describe each kind of file as os.Lstat and os.Stat do.
func TestLstatMatchesOS(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "file"), []byte("12345"), 0o644))
	must(os.Chmod(filepath.Join(dir, "file"), 0o4755|os.ModeSetuid))
	must(os.Mkdir(filepath.Join(dir, "dir"), 0o755))
	must(os.Chmod(filepath.Join(dir, "dir"), 0o1777|os.ModeSticky|os.ModeSetgid))
	must(os.Symlink("file", filepath.Join(dir, "link")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	must(os.Link(filepath.Join(dir, "file"), filepath.Join(dir, "hard")))
	f, err := New(dir)
	must(err)
	defer f.Close()
	for _, name := range []string{"file", "dir", "link", "fifo", "hard"} {
		for _, c := range []struct {
			ours func(string) (os.FileInfo, error)
			os   func(string) (os.FileInfo, error)
		}{{f.Lstat, os.Lstat}, {f.Stat, os.Stat}} {
			got, err := c.ours("/" + name)
			must(err)
			want, err := c.os(filepath.Join(dir, name))
			must(err)
			if got.Name() != want.Name() || got.Mode() != want.Mode() || got.Size() != want.Size() ||
				!got.ModTime().Equal(want.ModTime()) || got.IsDir() != want.IsDir() {
				t.Errorf("%s: got %s %v %d %v, want %s %v %d %v", name, got.Name(), got.Mode(), got.Size(), got.ModTime(),
					want.Name(), want.Mode(), want.Size(), want.ModTime())
			}
			if g, w := got.Sys().(*syscall.Stat_t), want.Sys().(*syscall.Stat_t); g.Ino != w.Ino || g.Nlink != w.Nlink {
				t.Errorf("%s: Sys ino %d nlink %d, want %d %d", name, g.Ino, g.Nlink, w.Ino, w.Nlink)
			}
		}
	}
}

// TestCause: Cause drops the *fs.PathError an FS adds, and keeps any
// other error.
func TestCause(t *testing.T) {
	fsys, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	_, err = fsys.Lstat("/absent")
	if got := Cause(err); got != syscall.ENOENT {
		t.Errorf("Cause(%v) = %v, want ENOENT", err, got)
	}
	other := errors.New("other")
	if Cause(other) != other {
		t.Error("Cause changed an error that is no *fs.PathError")
	}
}
