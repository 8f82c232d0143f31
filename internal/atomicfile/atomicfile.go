// Package atomicfile writes a file so that readers see either the old
// content or the complete new one, never a part: an initrd cut short is an
// unbootable machine.
//
// It is the one place where the output rules live, so that every writer
// (the image, --stats, spec -o) follows them:
//
//   - An output is a regular file or a new path. A device, FIFO, socket or
//     directory is refused (ErrNotRegular): replacing /dev/null with an
//     image breaks the host, and a FIFO or socket is another program's.
//   - A symlink is resolved and the file it points to is replaced; the
//     symlink stays. /initrd.img -> boot/initrd.img-VERSION then keeps
//     working. A dangling symlink is refused (ErrDangling), as GNU cp
//     does, rather than creating a file out of sight; so is a symlink in
//     a sticky world-writable directory such as /tmp that belongs neither
//     to us nor to the directory's owner (ErrUnsafeSymlink), the rule of
//     the kernel's fs.protected_symlinks, which a rename does not apply.
//   - A new file gets the mode the caller asks for, exactly, whatever the
//     umask (images ask for 0600: an initrd may hold keys). An existing
//     file keeps its mode and owner; when its owner cannot be kept, the
//     output is refused rather than handed to another owner.
//   - Temporary files that a killed run left next to the output are
//     removed before a new one is made: only names of our exact pattern
//     (.NAME.tmp-DIGITS), regular files of ours, older than StaleAge and
//     not locked by a running writer.
//   - An output whose new content equals its old content byte for byte is
//     left in place, with its modification time set to now: see
//     unchanged.go.
//
// Whether an output is also an input is the caller's to check, with the
// FileInfo that Resolve returns: only the caller knows its inputs.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Errors of the output rules; the errors returned wrap them with the path.
var (
	ErrNotRegular    = errors.New("atomicfile: an output must be a regular file or a new path")
	ErrDangling      = errors.New("atomicfile: refusing to write through a dangling symlink")
	ErrUnsafeSymlink = errors.New("atomicfile: refusing to follow a symlink of another user in a sticky world-writable directory")
)

// Target is an output path with the rules applied.
type Target struct {
	// Name is the path as given, for messages.
	Name string
	// Path is the file that is replaced: Name with the symlinks of its
	// last component followed, as open follows them; absolute.
	Path string
	// Info describes the existing file at Path, or is nil for a new path.
	Info os.FileInfo
	dir  os.FileInfo // Path's directory
}

// maxSymlinks is how many symlinks Resolve follows, as many as the
// kernel does.
const maxSymlinks = 40

// Resolve applies the output rules to name: it follows symlinks and
// refuses what may not be replaced. The directory must exist. Only name,
// what its symlinks name and their directories are looked at, not the
// directories above them.
func Resolve(name string) (*Target, error) {
	path, fi, err := follow(name)
	if err != nil {
		return nil, err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: is a %s: %w", name, rootfs.TypeName(fi.Mode()), ErrNotRegular)
	}
	dir, base := splitPath(path)
	di, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, rootfs.Cause(err))
	}
	if !di.IsDir() || base == "" {
		return nil, fmt.Errorf("%s: %w", name, syscall.ENOTDIR)
	}
	if !filepath.IsAbs(path) {
		// Not filepath.Abs: cleaning "a/../b" would be wrong where a is
		// a symlink.
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		path = wd + "/" + path
	}
	return &Target{Name: name, Path: path, Info: fi, dir: di}, nil
}

// follow follows the symlinks of name's last component. It returns the
// path they lead to and what is there, nil for nothing.
func follow(name string) (string, os.FileInfo, error) {
	p := name
	for range maxSymlinks + 1 {
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && p != name:
			dest, _ := os.Readlink(name)
			return "", nil, fmt.Errorf("%s: symlink to %s, which does not exist: %w", name, dest, ErrDangling)
		case errors.Is(err, fs.ErrNotExist):
			return p, nil, nil
		case err != nil:
			return "", nil, fmt.Errorf("%s: %w", name, rootfs.Cause(err))
		case fi.Mode()&fs.ModeSymlink == 0:
			return p, fi, nil
		}
		if err := checkSymlink(p, fi); err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		dest, err := os.Readlink(p)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, rootfs.Cause(err))
		}
		if !filepath.IsAbs(dest) {
			dir, _ := splitPath(p)
			dest = dir + "/" + dest
		}
		p = dest
	}
	return "", nil, fmt.Errorf("%s: %w", name, syscall.ELOOP)
}

// splitPath splits p at its last slash, without cleaning the directory
// lexically, which would be wrong after a symlink.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		return ".", p
	case i == 0:
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// Same reports whether two targets are one file: the same existing file,
// or the same new name in the same directory.
func (t *Target) Same(u *Target) bool {
	if t.Info != nil || u.Info != nil {
		return t.Info != nil && u.Info != nil && os.SameFile(t.Info, u.Info)
	}
	_, a := splitPath(t.Path)
	_, b := splitPath(u.Path)
	return a == b && os.SameFile(t.dir, u.dir)
}

// checkSymlink refuses a symlink that fs.protected_symlinks would not let
// us follow: one in a sticky world-writable directory that belongs
// neither to us nor to the directory's owner.
func checkSymlink(name string, link os.FileInfo) error {
	d, _ := splitPath(name)
	dir, err := os.Stat(d)
	if err != nil {
		return rootfs.Cause(err)
	}
	if dir.Mode()&fs.ModeSticky == 0 || dir.Mode().Perm()&0o002 == 0 {
		return nil
	}
	owner := link.Sys().(*syscall.Stat_t).Uid
	if int(owner) == os.Geteuid() || owner == dir.Sys().(*syscall.Stat_t).Uid {
		return nil
	}
	return fmt.Errorf("the symlink %s belongs to uid %d: %w", name, owner, ErrUnsafeSymlink)
}

// File is a temporary file that becomes the target path on Commit.
// Commit and Abort may race (a signal handler aborts while the build
// commits), so they hold a lock.
type File struct {
	*os.File
	target *Target
	mu     sync.Mutex
	done   bool
	old    *oldFile // the file replaced, while what is written equals it
}

// Create resolves name with the output rules and opens a temporary file
// in the directory of the file it replaces, so that the final rename
// stays on one filesystem and is atomic. A new file gets perm; an
// existing one keeps its mode and owner.
func Create(name string, perm os.FileMode) (*File, error) {
	t, err := Resolve(name)
	if err != nil {
		return nil, err
	}
	dir, base := splitPath(t.Path)
	RemoveStale(dir, base)
	f, err := createTemp(dir, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := setMode(f, t.Info, perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &File{File: f, target: t, old: openOld(t)}, nil
}

// tempPrefix and tempSuffix frame the name of a temporary file of base:
// .BASE.tmp-DIGITS, hidden and next to it.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// createTemp creates a new temporary file for base in dir and locks it,
// so that RemoveStale in another run leaves it alone while it is written.
func createTemp(dir, base string) (*os.File, error) {
	for range 100 {
		name := dir + "/" + tempPrefix(base) + strconv.FormatUint(uint64(rand.Uint32()), 10)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, rootfs.Cause(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			os.Remove(name)
			return nil, err
		}
		return f, nil
	}
	return nil, fmt.Errorf("no free temporary name in %s", dir)
}

// setMode gives a temporary file the mode and owner of the file it
// replaces, or perm for a new one. The owner comes first: chown clears
// the set-user-ID and set-group-ID bits.
func setMode(f *os.File, old os.FileInfo, perm os.FileMode) error {
	if old == nil {
		return f.Chmod(perm)
	}
	st := old.Sys().(*syscall.Stat_t)
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("cannot keep the owner %d:%d of the existing file: %w", st.Uid, st.Gid, rootfs.Cause(err))
	}
	return f.Chmod(old.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
}

// Commit flushes the data to disk and renames the file over the target.
// What was put at the target since Create is checked again: the rename
// replaces only a regular file.
func (f *File) Commit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.target.Name)
	}
	f.done = true
	if kept, err := f.keepOld(); kept || err != nil {
		f.discard()
		if err != nil {
			return fmt.Errorf("%s: %w", f.target.Name, rootfs.Cause(err))
		}
		return nil
	}
	err := f.Sync()
	if fi, lerr := os.Lstat(f.target.Path); err == nil && lerr == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("is now a %s: %w", rootfs.TypeName(fi.Mode()), ErrNotRegular)
	}
	if err == nil {
		// Renamed before it is closed, so that the lock is held until
		// the name is no longer a temporary one.
		err = os.Rename(f.Name(), f.target.Path)
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	f.old.close()
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("%s: %w", f.target.Name, unwrapLink(err))
	}
	if d, err := os.Open(f.target.dirName()); err == nil {
		d.Sync() // make the rename itself durable; best effort
		d.Close()
	}
	return nil
}

func (t *Target) dirName() string {
	dir, _ := splitPath(t.Path)
	return dir
}

// unwrapLink drops the temporary name from a rename's error.
func unwrapLink(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return rootfs.Cause(err)
}

// Abort removes the temporary file; the target is left as it was. It is
// safe to call after Commit, so it can be deferred.
func (f *File) Abort() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	f.discard()
}

// discard removes the temporary file and closes what is open.
func (f *File) discard() {
	os.Remove(f.Name())
	f.File.Close()
	f.old.close()
}

// Target returns the path the file becomes on Commit, as given to Create.
func (f *File) Target() string { return f.target.Name }

// Write writes to the temporary file; errors name the target, as the
// temporary name would only confuse.
func (f *File) Write(p []byte) (int, error) {
	if f.old.matches(p) {
		return len(p), nil
	}
	if err := f.diverge(); err != nil {
		return 0, fmt.Errorf("%s: %w", f.target.Name, rootfs.Cause(err))
	}
	n, err := f.File.Write(p)
	if err != nil {
		err = fmt.Errorf("%s: %w", f.target.Name, rootfs.Cause(err))
	}
	return n, err
}
