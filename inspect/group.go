package inspect

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// TopDir returns the first two components of p ("/usr/lib/x/y" ->
// "/usr/lib"; "/init" -> "/init"), the unit of the "dir" grouping.
func TopDir(p string) string {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return "/" + strings.Join(parts, "/")
}

// ByDir groups entries by TopDir.
func ByDir(e *Entry) string { return TopDir(e.Path) }

// storePath matches a path in a Nix or Guix style store:
// <dir>/store/<32-character hash>-<name>.
var storePath = regexp.MustCompile(`^(/(?:[^/]+/)*store)/([0-9a-z]{32})-([^/]+)`)

// StorePath returns the store path p lies in ("/nix/store/<hash>-name"),
// or "" when p is not in a store.
func StorePath(p string) string {
	return storePath.FindString(p)
}

// NotInStore names the group of entries outside any store.
const NotInStore = "(not in a store)"

// ByStorePath groups entries by store path with the hash replaced by
// "*" ("/nix/store/*-systemd-255.4"), so that two builds' versions of a
// package line up whatever their hashes; the version in the name still
// tells upgrades apart.
func ByStorePath(e *Entry) string {
	m := storePath.FindStringSubmatch(e.Path)
	if m == nil {
		return NotInStore
	}
	return m[1] + "/*-" + m[3]
}

// Unknown names the group of entries no package owns.
const Unknown = "unknown"

// Directories names the group of directories in the "package" grouping:
// many packages own each of them.
const Directories = "(directories)"

// Packages maps paths to the Debian packages that ship them, from
// dpkg's database (the info/*.list files, what dpkg -S reads).
type Packages struct {
	owner map[string]string
}

// ReadPackages reads the *.list files of a dpkg database directory
// (normally /var/lib/dpkg). A path that several packages list (a
// directory, a diverted file) goes to the first in name order.
func ReadPackages(dir string) (*Packages, error) {
	lists, err := filepath.Glob(filepath.Join(dir, "info", "*.list"))
	if err != nil {
		return nil, err
	}
	if len(lists) == 0 {
		return nil, fmt.Errorf("%s: no dpkg database (no info/*.list files)", dir)
	}
	sort.Strings(lists)
	p := &Packages{owner: map[string]string{}}
	for _, l := range lists {
		name := strings.TrimSuffix(filepath.Base(l), ".list")
		if err := p.readList(l, name); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Packages) readList(file, pkg string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		path := sc.Text()
		if path == "" || path == "/." {
			continue
		}
		if _, ok := p.owner[path]; !ok {
			p.owner[path] = pkg
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// usrMerged lists the directories that Debian's merged /usr makes
// aliases of /usr/<dir>: packages may list either spelling.
var usrMerged = []string{"/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"}

// Owner returns the package that ships p, trying the other spelling of
// merged-/usr paths; ok is false when no package lists it.
func (p *Packages) Owner(path string) (pkg string, ok bool) {
	if pkg, ok := p.owner[path]; ok {
		return pkg, true
	}
	for _, d := range usrMerged {
		if rest, found := strings.CutPrefix(path, "/usr"+d); found {
			pkg, ok := p.owner[d+rest]
			return pkg, ok
		}
		if rest, found := strings.CutPrefix(path, d); found {
			pkg, ok := p.owner["/usr"+d+rest]
			return pkg, ok
		}
	}
	return "", false
}

// Grouping returns the "package" grouping: the owning package of each
// entry, Directories for directories, Unknown for what no package ships.
func (p *Packages) Grouping() Grouping {
	return func(e *Entry) string {
		if e.Type == TypeDir {
			return Directories
		}
		if pkg, ok := p.Owner(e.Path); ok {
			return pkg
		}
		return Unknown
	}
}
