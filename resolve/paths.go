package resolve

import (
	"errors"
	"io/fs"
	"path"
	"strings"

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
// component of every path again costs one openat2 per component, the
// bulk of resolving a large tree. A final component that is itself a
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

// isRuntimePath reports whether p lies in a directory that the booted
// system mounts over: /dev, /proc, /sys and /run hold what the kernel,
// devtmpfs and systemd provide at boot, never files of the root.
func isRuntimePath(p string) bool {
	for _, dir := range [...]string{"/dev", "/proc", "/sys", "/run"} {
		if within(p, dir) {
			return true
		}
	}
	return false
}

// within reports whether the clean absolute path p is dir or lies below
// it; nothing lies within "".
func within(p, dir string) bool {
	return dir != "" && (p == dir || strings.HasPrefix(p, dir) && (dir == "/" || p[len(dir)] == '/'))
}

// linkDest returns the absolute path that the symlink at p with text
// points to, its directory taken as free of symlinks.
func linkDest(p, text string) string {
	if path.IsAbs(text) {
		return path.Clean(text)
	}
	return path.Join(path.Dir(p), text)
}

// cutAtRuntime returns the links up to the first one that points into a
// runtime directory (see isRuntimePath), and the path it points to; ok is
// false when none does.
func cutAtRuntime(links []rootfs.Link) (kept []rootfs.Link, dest string, ok bool) {
	for i, l := range links {
		if d := linkDest(l.Path, l.Target); isRuntimePath(d) {
			return links[:i+1], d, true
		}
	}
	return links, "", false
}
