package resolve

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/fragments"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// IncludeDir is where a root keeps its own fragments, NAME.json, which
// win over the fragments that ship with mkinitrd-ng.
const IncludeDir = "/etc/mkinitrd-ng/include.d"

// fragmentName is what a fragment's name may hold; anything else in
// "include" is a path to a file.
var fragmentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Expand returns the manifest with the fragments its "include" names
// merged in, depth first, each once: lists are unions, identical entries
// merge (two that differ are an error naming both), and the manifest's
// own settings are the only ones. A name is looked up in the root's
// IncludeDir, then among the fragments that ship with mkinitrd-ng; a
// path (holding a slash, or ending in .json) is a file, relative to the
// including manifest's directory. A manifest without includes is
// returned as is.
func (m *Manifest) Expand(fsys *rootfs.FS) (*Manifest, error) {
	if len(m.Include) == 0 {
		return m, nil
	}
	out := *m
	out.Contents = slices.Clone(m.Contents)
	out.Units = slices.Clone(m.Units)
	out.UnitDirs = slices.Clone(m.UnitDirs)
	out.Wants = make(map[string][]string, len(m.Wants))
	for k, v := range m.Wants {
		out.Wants[k] = slices.Clone(v)
	}
	if m.Modules != nil {
		mods := *m.Modules
		mods.Load, mods.Include = slices.Clone(mods.Load), slices.Clone(mods.Include)
		out.Modules = &mods
	}
	out.origins = map[string]string{}
	inc := &includer{fsys: fsys, into: &out, done: map[string]bool{}}
	for _, name := range m.Include {
		if err := inc.include(name, m.BaseDir, true); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Origin, err)
		}
	}
	return &out, nil
}

// includer merges fragments into a manifest.
type includer struct {
	fsys  *rootfs.FS
	into  *Manifest
	done  map[string]bool // fragments merged, by key
	stack []string        // the fragments being merged, outermost first
}

// fragment is one fragment's text and where it came from.
type fragment struct {
	data   []byte
	key    string // identifies it: its name, or its file's absolute path
	origin string // names it in messages and reasons
	dir    string // where its relative includes start; "" allows names only
}

func (inc *includer) include(name, baseDir string, pathsAllowed bool) error {
	f, err := inc.load(name, baseDir, pathsAllowed)
	if err != nil {
		return err
	}
	if i := slices.Index(inc.stack, f.key); i >= 0 {
		return fmt.Errorf("include cycle: %s -> %s", strings.Join(inc.stack[i:], " -> "), f.key)
	}
	if inc.done[f.key] {
		return nil
	}
	inc.done[f.key] = true
	frag, err := ParseManifest(bytes.NewReader(f.data), f.origin)
	if err != nil {
		return err
	}
	if err := checkFragment(frag); err != nil {
		return fmt.Errorf("%s: %w", f.origin, err)
	}
	inc.stack = append(inc.stack, f.key)
	for _, sub := range frag.Include {
		if err := inc.include(sub, f.dir, f.dir != ""); err != nil {
			return err
		}
	}
	inc.stack = inc.stack[:len(inc.stack)-1]
	inc.merge(frag, f.origin)
	return nil
}

// load finds the fragment that an include names.
func (inc *includer) load(name, baseDir string, pathsAllowed bool) (*fragment, error) {
	if strings.Contains(name, "/") || strings.HasSuffix(name, ".json") {
		if !pathsAllowed {
			return nil, fmt.Errorf("include %q: a fragment of the root or of mkinitrd-ng includes other fragments by name only", name)
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("include %q: %w", name, err)
		}
		abs, _ := filepath.Abs(p)
		return &fragment{data: data, key: abs, origin: "fragment " + p, dir: filepath.Dir(abs)}, nil
	}
	if !fragmentName.MatchString(name) {
		return nil, fmt.Errorf("include %q: not a fragment name, and not a path (a path holds a slash or ends in .json)", name)
	}
	own := IncludeDir + "/" + name + ".json"
	data, err := inc.fsys.ReadFile(own)
	switch {
	case err == nil:
		return &fragment{data: data, key: name, origin: "fragment " + name + " (" + own + ")"}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("include %q: %s: %w", name, own, rootfs.Cause(err))
	}
	if data, ok := fragments.Lookup(name); ok {
		return &fragment{data: data, key: name, origin: "fragment " + name}, nil
	}
	return nil, fmt.Errorf("include %q: no such fragment; known: %s (and NAME.json in the root's %s)", name, strings.Join(inc.known(), ", "), IncludeDir)
}

// known lists the fragment names an include may use.
func (inc *includer) known() []string {
	names := fragments.Names()
	if entries, err := inc.fsys.ReadDir(IncludeDir); err == nil {
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// checkFragment refuses the settings a fragment cannot make: they belong
// to the image as a whole, which the including manifest describes.
func checkFragment(f *Manifest) error {
	var set []string
	for _, s := range []struct {
		name string
		set  bool
	}{
		{"root", f.Root != ""}, {"compress", !f.Compress.IsZero()}, {"level", f.Level != ""},
		{"storeDirs", f.StoreDirs != nil}, {"scanELF", f.ScanELF}, {"dlopen", f.Dlopen != nil},
		{"allowMissing", f.AllowMissing}, {"followWants", f.FollowWants != nil}, {"dirMode", f.DirMode != ""},
		{"prepend", f.Prepend != nil},
		{"modules.kernelVersion", f.Modules != nil && f.Modules.KernelVersion != ""},
		{"modules.decompress", f.Modules != nil && f.Modules.Decompress},
	} {
		if s.set {
			set = append(set, s.name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("a fragment cannot set %s: the including manifest decides it", strings.Join(set, ", "))
	}
	return nil
}

// merge adds a fragment's lists to the manifest's.
func (inc *includer) merge(f *Manifest, origin string) {
	m := inc.into
	for _, c := range f.Contents {
		c.origin = origin
		m.Contents = append(m.Contents, c)
	}
	for _, u := range f.Units {
		if !slices.Contains(m.Units, u) {
			m.Units = append(m.Units, u)
			m.noteOrigin("unit", u, origin)
		}
	}
	m.UnitDirs = appendMissing(m.UnitDirs, f.UnitDirs...)
	for unit, wanted := range f.Wants {
		m.Wants[unit] = appendMissing(m.Wants[unit], wanted...)
	}
	m.Microcode = m.Microcode || f.Microcode
	if f.Modules == nil {
		return
	}
	if m.Modules == nil {
		m.Modules = &Modules{}
	}
	for _, l := range []struct {
		how      string // as kmod's reasons say it
		from, to *[]string
	}{{"load", &f.Modules.Load, &m.Modules.Load}, {"include", &f.Modules.Include, &m.Modules.Include}} {
		for _, name := range *l.from {
			if !slices.Contains(*l.to, name) {
				*l.to = append(*l.to, name)
				m.noteOrigin(l.how, name, origin)
			}
		}
	}
	m.Modules.Firmware = m.Modules.Firmware || f.Modules.Firmware
}

// noteOrigin remembers the fragment that first asked for a unit or a
// module, for the reasons of its files: kind is the word those reasons
// start with ("unit", or "load" and "include" for modules).
func (m *Manifest) noteOrigin(kind, name, origin string) {
	if _, ok := m.origins[kind+" "+name]; !ok {
		m.origins[kind+" "+name] = origin
	}
}

// withOrigin adds to why, a reason of the form "KIND NAME...", the
// fragment that asked for NAME, if one did.
func (m *Manifest) withOrigin(kind, why string) string {
	rest, ok := strings.CutPrefix(why, kind+" ")
	if !ok {
		return why
	}
	name, _, _ := strings.Cut(rest, " ")
	if origin := m.origins[kind+" "+name]; origin != "" {
		return why + ", from " + origin
	}
	return why
}

func appendMissing(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}
