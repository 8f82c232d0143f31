package kmod

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// moduleRoots are the directories that hold one directory of modules per
// kernel version, in the order they are tried: /lib/modules is where
// libkmod looks (and on merged-/usr systems it is /usr/lib/modules);
// /usr/lib/modules alone is the layout of systems without a /lib.
var moduleRoots = []string{"/lib/modules", "/usr/lib/modules"}

// KernelVersions returns the kernel versions under /lib/modules of the
// tree that have a modules.dep, newest first (see CompareVersions).
func KernelVersions(fsys *rootfs.FS) ([]string, error) {
	seen := map[string]bool{}
	var vers []string
	var errs []error
	found := false
	for _, dir := range moduleRoots {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		found = true
		for _, e := range ents {
			v := e.Name()
			if seen[v] {
				continue
			}
			if fi, err := fsys.Stat(path.Join(dir, v, "modules.dep")); err == nil && fi.Mode().IsRegular() {
				seen[v] = true
				vers = append(vers, v)
			}
		}
	}
	if !found {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("%s: no kernel modules in the tree", moduleRoots[0])
	}
	sort.Slice(vers, func(i, j int) bool { return CompareVersions(vers[i], vers[j]) > 0 })
	return vers, nil
}

// DefaultKernelVersion returns the newest kernel version of the tree that
// has a modules.dep.
func DefaultKernelVersion(fsys *rootfs.FS) (string, error) {
	vers, err := KernelVersions(fsys)
	if err != nil {
		return "", err
	}
	if len(vers) == 0 {
		return "", fmt.Errorf("%s: no kernel version with a modules.dep (run depmod)", moduleRoots[0])
	}
	return vers[0], nil
}

// CompareVersions orders kernel versions as `sort -V` does for them:
// runs of digits compare as numbers, other runs as bytes, so 6.1.0-10
// is newer than 6.1.0-9. It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, restA, numA := versionRun(a)
		rb, restB, numB := versionRun(b)
		var c int
		switch {
		case numA && numB:
			c = compareNumbers(ra, rb)
		case numA != numB:
			// A number sorts after a non-number at the same place.
			if numA {
				c = 1
			} else {
				c = -1
			}
		default:
			c = compareStrings(ra, rb)
		}
		if c != 0 {
			return c
		}
		a, b = restA, restB
	}
	return compareStrings(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func versionRun(s string) (run, rest string, num bool) {
	num = isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == num {
		i++
	}
	return s[:i], s[i:], num
}

func compareNumbers(a, b string) int {
	for len(a) > 1 && a[0] == '0' {
		a = a[1:]
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return compareStrings(a, b)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
