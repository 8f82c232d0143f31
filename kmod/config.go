package kmod

import (
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// configDirs are the modprobe.d directories libkmod reads, in priority
// order: a file name found in an earlier directory hides the same name in
// later ones.
var configDirs = []string{"/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d"}

// config is what the tree's modprobe.d files say that changes which
// modules a name brings in: aliases, soft and weak dependencies.
type config struct {
	files    []configFile // the files read, in the order libkmod reads them
	aliases  []aliasLine
	softdeps []depLine
	weakdeps []depLine
}

// configFile is a modprobe.d file and its content.
type configFile struct {
	path string
	data []byte
}

// loadConfig reads the tree's modprobe.d files. Lines continued with a
// backslash are joined, as libkmod does.
func loadConfig(fsys *rootfs.FS) (*config, error) {
	byName := map[string]string{}
	var names []string
	var errs []error
	for _, dir := range configDirs {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
				errs = append(errs, err)
			}
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".conf") {
				continue
			}
			if _, ok := byName[n]; ok {
				continue
			}
			p := path.Join(dir, n)
			if fi, err := fsys.Stat(p); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			byName[n] = p
			names = append(names, n)
		}
	}
	sort.Strings(names)
	c := &config{}
	for _, n := range names {
		p := byName[n]
		b, err := fsys.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.files = append(c.files, configFile{p, b})
		for _, l := range joinContinued(lines(b)) {
			l = strings.TrimSpace(l)
			if l == "" || l[0] == '#' {
				continue
			}
			if a, ok := parseAlias(l); ok {
				c.aliases = append(c.aliases, a)
			} else if s, ok := parseDepLine(l); ok {
				if len(s.weak) > 0 {
					c.weakdeps = append(c.weakdeps, s)
				} else {
					c.softdeps = append(c.softdeps, s)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func joinContinued(ls []string) []string {
	var out []string
	cur := ""
	for _, l := range ls {
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\")
			continue
		}
		out = append(out, cur+l)
		cur = ""
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}
