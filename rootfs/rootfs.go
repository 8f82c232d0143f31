// Package rootfs reads a source tree as if the process were chrooted into it.
//
// Every read of the files that go into an initrd goes through an FS, so that
// no symlink, ".." or absolute path found inside the tree can make
// mkinitrd-ng read a file outside it. Resolution is done by the kernel with
// openat2(2) and RESOLVE_IN_ROOT, which also closes the race where a checked
// path is swapped for a symlink before it is opened.
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxLinks is the number of symlinks followed while resolving one path
// before giving up, the same limit as Linux (MAXSYMLINKS).
const MaxLinks = 40

// FS is a directory tree seen with chroot semantics: absolute paths and
// absolute symlink targets start at the tree's top, and ".." never climbs
// above it. An FS holds an open directory descriptor; Close releases it.
type FS struct {
	root  string
	dirfd int
}

// Link is one symlink met while resolving a path: the link's own path
// inside the tree and its text, exactly as stored.
type Link struct {
	Path   string
	Target string
}

// New opens root as the top of a tree.
func New(root string) (*FS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", abs, err)
	}
	return &FS{root: abs, dirfd: fd}, nil
}

// Root returns the host directory that is the top of the tree.
func (f *FS) Root() string { return f.root }

// Close releases the tree's directory descriptor.
func (f *FS) Close() error { return unix.Close(f.dirfd) }

// Clean returns p as a clean absolute path inside the tree ("/" for "").
// A path that is clean already is returned as is, not copied: the
// resolver keeps one string per entry of a large tree.
func Clean(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Clean("/" + p)
}

// HostPath returns where p lies on the host, for messages only: opening it
// directly would bypass the confinement.
func (f *FS) HostPath(p string) string { return filepath.Join(f.root, Clean(p)) }

func (f *FS) openat(p string, flags int, resolve uint64) (int, error) {
	rel := strings.TrimPrefix(Clean(p), "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: resolve | unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(f.dirfd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err == unix.ENOSYS {
			return -1, errors.New("the kernel lacks openat2 (Linux 5.6 or later is needed)")
		}
		return fd, err
	}
}

// TypeName names the type of file m describes, for messages: "regular
// file", "directory", "symlink", "character device", "block device",
// "FIFO" or "socket".
func TypeName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "file of type " + m.Type().String()
}

// Cause returns the error that an *fs.PathError in err wraps, else err:
// an FS's errors name paths inside the tree, which a caller that names
// the path itself need not repeat.
func Cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func pathErr(op, p string, err error) error {
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// Open opens p for reading, following symlinks inside the tree.
func (f *FS) Open(p string) (*os.File, error) {
	return f.open(p, 0)
}

// OpenNoFollow opens p for reading; a p that is itself a symlink is an
// error (ELOOP) rather than followed, for callers that resolved it already.
func (f *FS) OpenNoFollow(p string) (*os.File, error) {
	return f.open(p, unix.O_NOFOLLOW)
}

func (f *FS) open(p string, extra int) (*os.File, error) {
	fd, err := f.openat(p, unix.O_RDONLY|unix.O_NONBLOCK|extra, 0)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	// O_NONBLOCK keeps a FIFO from blocking the open; clear it for reads.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, pathErr("open", p, err)
	}
	return os.NewFile(uintptr(fd), Clean(p)), nil
}

// Lstat describes p without following p itself if it is a symlink.
func (f *FS) Lstat(p string) (fs.FileInfo, error) {
	return f.stat(p, unix.O_NOFOLLOW)
}

// Stat describes p, following symlinks inside the tree.
func (f *FS) Stat(p string) (fs.FileInfo, error) {
	return f.stat(p, 0)
}

func (f *FS) stat(p string, extra int) (fs.FileInfo, error) {
	fd, err := f.openat(p, unix.O_PATH|extra, 0)
	if err != nil {
		return nil, pathErr("stat", p, err)
	}
	defer unix.Close(fd)
	// fstat on the descriptor itself, not through an *os.File: that
	// would cost an fcntl and an allocation per file, which a 100,000-file
	// build feels.
	fi := &fileInfo{name: path.Base(Clean(p))}
	if err := syscall.Fstat(fd, &fi.st); err != nil {
		return nil, pathErr("stat", p, err)
	}
	return fi, nil
}

// fileInfo is an fs.FileInfo made from a stat result, named after the
// path asked for; Sys returns the *syscall.Stat_t, as os's does.
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.st }

// fileMode converts a stat mode as os.Stat does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// Readlink returns the text of the symlink p.
func (f *FS) Readlink(p string) (string, error) {
	fd, err := f.openat(p, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", pathErr("readlink", p, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", pathErr("readlink", p, err)
	}
	return string(buf[:n]), nil
}

// ReadDir lists the directory p, sorted by name.
func (f *FS) ReadDir(p string) ([]fs.DirEntry, error) {
	fd, err := f.openat(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, pathErr("readdir", p, err)
	}
	dir := os.NewFile(uintptr(fd), Clean(p))
	defer dir.Close()
	ents, err := dir.ReadDir(-1)
	if err != nil {
		return nil, pathErr("readdir", p, err)
	}
	sortEntries(ents)
	return ents, nil
}

// ReadFile reads the whole of p, following symlinks inside the tree.
func (f *FS) ReadFile(p string) ([]byte, error) {
	file, err := f.Open(p)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := readAll(file)
	if err != nil {
		return nil, pathErr("read", p, err)
	}
	return data, nil
}

// Resolve follows every symlink in p, in its parent directories and at its
// end, the way the kernel would inside the tree. It returns the final path
// and each link met, in order. A path that does not exist is not an
// error: the returned path is then where it would be, and Lstat on it
// fails, so a caller can tell a dangling link from a missing file.
func (f *FS) Resolve(p string) (string, []Link, error) {
	var links []Link
	done := "/"
	todo := splitPath(Clean(p))
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if name == ".." {
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, name)
		fi, err := f.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			// Dangling: say where it points; Lstat on that fails.
			return path.Join(append([]string{next}, todo...)...), links, nil
		}
		if err != nil {
			return "", links, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if len(links) >= MaxLinks {
			return "", links, pathErr("resolve", p, fmt.Errorf("more than %d symlinks: %s", MaxLinks, chain(links)))
		}
		target, err := f.Readlink(next)
		if err != nil {
			return "", links, err
		}
		links = append(links, Link{Path: next, Target: target})
		if strings.HasPrefix(target, "/") {
			done = "/"
		}
		todo = append(splitPath(target), todo...)
	}
	return done, links, nil
}

// chain describes the links met, up to the first one met twice.
func chain(links []Link) string {
	var parts []string
	seen := map[Link]bool{}
	for _, l := range links {
		if seen[l] {
			return strings.Join(parts, ", ") + ", ... (a loop)"
		}
		seen[l] = true
		parts = append(parts, l.Path+" -> "+l.Target)
	}
	return strings.Join(parts, ", ")
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}
