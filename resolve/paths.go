package resolve

import (
	"errors"
	"io/fs"
	"path"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// resolvedDir is a directory's path once its symlinks are followed.
type resolvedDir struct {
	final string
	links []rootfs.Link
	err   error
}

// resolvePath is rootfs.Resolve with the parent directory's resolution
// remembered: the files of one directory share it, and following every
// component of every path again costs one openat2 per component, which
// dominated resolving 100,000 files. A final component that is itself a
// symlink takes the full path.
func (r *resolver) resolvePath(p string) (string, []rootfs.Link, error) {
	final, links, _, err := r.resolveStat(p)
	return final, links, err
}

// resolveStat is resolvePath that also returns the final path's Lstat
// result when it had to look at it anyway (nil otherwise), which saves
// handle a second look.
func (r *resolver) resolveStat(p string) (string, []rootfs.Link, fs.FileInfo, error) {
	p = rootfs.Clean(p)
	dir, base := path.Split(p)
	if base == "" {
		final, links, err := r.fs.Resolve(p)
		return final, links, nil, err
	}
	d := r.resolveDir(dir)
	if d.err != nil {
		final, links, err := r.fs.Resolve(p) // rare: for the error naming the whole path
		return final, links, nil, err
	}
	candidate := p // the common case, with no new string for it
	if dir != d.final+"/" && !(dir == "/" && d.final == "/") {
		candidate = path.Join(d.final, base)
	}
	fi, err := r.fs.Lstat(candidate)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return candidate, d.links, nil, nil // missing: Lstat on it fails again
	case err == nil && fi.Mode()&fs.ModeSymlink == 0:
		return candidate, d.links, fi, nil
	}
	final, links, err := r.fs.Resolve(p)
	return final, links, nil, err
}

func (r *resolver) resolveDir(dir string) *resolvedDir {
	if d, ok := r.dirs.Load(dir); ok {
		return d.(*resolvedDir)
	}
	final, links, err := r.fs.Resolve(dir)
	d, _ := r.dirs.LoadOrStore(dir, &resolvedDir{final: final, links: links, err: err})
	return d.(*resolvedDir)
}
