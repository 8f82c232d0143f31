package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// module is one line of modules.dep: a module file and the files it
// needs, all relative to the modules directory (absolute when depmod
// found the module elsewhere).
type module struct {
	name string
	rel  string
	deps []string
	idx  int // line number in modules.dep: depmod's priority in the .bin indexes
}

// aliasLine is one "alias PATTERN MODNAME" line of modules.alias or of a
// modprobe.d file.
type aliasLine struct {
	pattern string // as written
	norm    string // NormalizeAlias(pattern); "" when its brackets do not match
	modname string
}

// depLine is a "softdep" or "weakdep" line of modules.softdep,
// modules.weakdep or a modprobe.d file.
type depLine struct {
	modname   string // a pattern in modprobe.d; a name in modules.softdep
	pre, post []string
	weak      []string
	text      string // the line as written
}

// path is where m's file is in the tree: modules.dep paths are relative
// to the modules directory unless depmod found the module elsewhere.
func (d *db) path(m *module) string {
	if strings.HasPrefix(m.rel, "/") {
		return path.Clean(m.rel)
	}
	return path.Join(d.dir, m.rel)
}

// db holds the text indexes depmod wrote for one kernel version.
type db struct {
	dir     string // the modules directory, "/lib/modules/VER"
	modules []*module
	byName  map[string]*module
	byRel   map[string]*module

	aliases     *aliasFile
	softdeps    []depLine
	weakdeps    []depLine
	hasWeakdep  bool
	symbols     *aliasFile
	devname     []string // lines of modules.devname past the header
	builtinText []byte
	builtin     map[string]bool
	builtinMods []string // module names in modules.builtin order
	modinfoText []byte   // modules.builtin.modinfo as read
	builtinInfo map[string][]string
	order       []string // modules.order lines
	hasOrder    bool
}

// The headers depmod writes at the top of its text files.
const (
	aliasHeader   = "# Aliases extracted from modules themselves.\n"
	softdepHeader = "# Soft dependencies extracted from modules themselves.\n"
	weakdepHeader = "# Weak dependencies extracted from modules themselves.\n"
	symbolsHeader = "# Aliases for symbols, used by symbol_request().\n"
	devnameHeader = "# Device nodes to trigger on-demand module loading.\n"
)

// readOptional reads p, returning nil and no error when it does not exist.
func readOptional(fsys *rootfs.FS, p string) ([]byte, bool, error) {
	b, err := fsys.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// lines returns the lines of b as eachLine splits them.
func lines(b []byte) []string {
	s := string(b)
	out := make([]string, 0, strings.Count(s, "\n")+1)
	for l := range eachLine(s) {
		out = append(out, l)
	}
	return out
}

// eachLine yields the lines of s as bufio.ScanLines splits them: without
// their newline and the carriage return before it, the last one also
// without a newline. The lines are substrings of s: modules.alias has
// tens of thousands of lines, read on every build, and a string each
// would cost more than the rest of reading it.
func eachLine(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for s != "" {
			l, rest, _ := strings.Cut(s, "\n")
			s = rest
			if !yield(strings.TrimSuffix(l, "\r")) {
				return
			}
		}
	}
}

// appendFields appends the fields of l to dst, split at white space as
// strings.Fields splits them. An ASCII line's fields are appended without
// allocating when dst has room, so that the index files are parsed with
// one allocation per file rather than one per line.
func appendFields(dst []string, l string) []string {
	for i := 0; i < len(l); i++ {
		if l[i] >= utf8.RuneSelf {
			return append(dst, strings.Fields(l)...)
		}
	}
	i := 0
	for {
		for i < len(l) && isSpace(l[i]) {
			i++
		}
		if i == len(l) {
			return dst
		}
		j := i
		for j < len(l) && !isSpace(l[j]) {
			j++
		}
		dst = append(dst, l[i:j])
		i = j
	}
}

// isSpace reports whether c is ASCII white space as strings.Fields sees it.
func isSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }

// loadDB reads the text indexes of the modules directory dir:
// modules.dep, which must exist, and those of optionalIndexes that do.
func loadDB(fsys *rootfs.FS, dir string) (*db, error) {
	d := &db{dir: dir, aliases: newAliasFile(""), symbols: newAliasFile(""), builtin: map[string]bool{}, builtinInfo: map[string][]string{}}
	if err := d.loadDep(fsys); err != nil {
		return nil, err
	}
	var errs []error
	for _, x := range optionalIndexes {
		b, ok, err := readOptional(fsys, path.Join(dir, x.name))
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			x.load(d, b)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// loadDep reads modules.dep, the list of modules and what each needs.
func (d *db) loadDep(fsys *rootfs.FS) error {
	depPath := path.Join(d.dir, "modules.dep")
	b, err := fsys.ReadFile(depPath)
	if err != nil {
		return fmt.Errorf("%w (run depmod for this kernel)", err)
	}
	dep := string(b)
	// Every build reads the whole file: sized from the start, the
	// modules, their maps and their dependency lists are a few
	// allocations rather than some for each of its thousands of lines.
	n := strings.Count(dep, "\n") + 1
	mods := make([]module, 0, n)
	d.modules = make([]*module, 0, n)
	d.byName = make(map[string]*module, n)
	d.byRel = make(map[string]*module, n)
	deps := make([]string, 0, strings.Count(dep, " "))
	lineNo := 0
	for line := range eachLine(dep) {
		lineNo++
		if line == "" {
			continue
		}
		rel, rest, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%s:%d: no ':' in %q", depPath, lineNo, line)
		}
		name := ModName(rel)
		if _, dup := d.byName[name]; dup {
			// depmod keeps one file per name; keep the first line as libkmod
			// would return the first value.
			continue
		}
		// Each module's list is a piece of one array, capped so that
		// appending to it never writes into the next one's.
		start := len(deps)
		deps = appendFields(deps, rest)
		mods = append(mods, module{name: name, rel: rel, deps: deps[start:len(deps):len(deps)], idx: len(d.modules)})
		m := &mods[len(mods)-1]
		d.modules = append(d.modules, m)
		d.byName[name] = m
		d.byRel[rel] = m
	}
	return nil
}

// optionalIndexes are the files of a modules directory besides
// modules.dep that loadDB reads when they exist, each with what it keeps
// of the file's contents.
var optionalIndexes = []struct {
	name string
	load func(d *db, b []byte)
}{
	{"modules.alias", func(d *db, b []byte) { d.aliases = newAliasFile(string(b)) }},
	{"modules.softdep", func(d *db, b []byte) { d.softdeps = depLines(b, false) }},
	{"modules.weakdep", func(d *db, b []byte) {
		d.hasWeakdep = true
		d.weakdeps = depLines(b, true)
	}},
	{"modules.symbols", func(d *db, b []byte) { d.symbols = newAliasFile(string(b)) }},
	{"modules.devname", (*db).loadDevname},
	{"modules.builtin", (*db).loadBuiltin},
	{"modules.builtin.modinfo", (*db).loadBuiltinModinfo},
	{"modules.order", (*db).loadOrder},
}

// loadDevname keeps the lines of modules.devname past its comments.
func (d *db) loadDevname(b []byte) {
	for _, l := range lines(b) {
		if l != "" && !strings.HasPrefix(l, "#") {
			d.devname = append(d.devname, l)
		}
	}
}

// loadBuiltin keeps modules.builtin as read, and the names of the
// modules it lists.
func (d *db) loadBuiltin(b []byte) {
	d.builtinText = b
	for _, l := range lines(b) {
		if l == "" {
			continue
		}
		name := ModName(l)
		d.builtin[name] = true
		d.builtinMods = append(d.builtinMods, name)
	}
}

// loadBuiltinModinfo keeps modules.builtin.modinfo as read, the names of
// the modules it describes and their aliases.
func (d *db) loadBuiltinModinfo(b []byte) {
	d.modinfoText = b
	for _, kv := range bytes.Split(b, []byte{0}) {
		mod, key, val, ok := builtinModinfo(kv)
		if !ok {
			continue
		}
		name := strings.ReplaceAll(mod, "-", "_")
		d.builtin[name] = true
		if key == "alias" {
			d.builtinInfo[name] = append(d.builtinInfo[name], val)
		}
	}
}

// builtinModinfo splits one "module.key=value" string of
// modules.builtin.modinfo. ok is false for a string without a module name
// or without "=".
func builtinModinfo(kv []byte) (mod, key, val string, ok bool) {
	mod, rest, ok := strings.Cut(string(kv), ".")
	if !ok || mod == "" {
		return "", "", "", false
	}
	key, val, ok = strings.Cut(rest, "=")
	if !ok {
		return "", "", "", false
	}
	return mod, key, val, true
}

// loadOrder keeps the lines of modules.order.
func (d *db) loadOrder(b []byte) {
	d.hasOrder = true
	for _, l := range lines(b) {
		if l != "" {
			d.order = append(d.order, l)
		}
	}
}

// parseAlias parses "alias PATTERN MODNAME".
func parseAlias(l string) (aliasLine, bool) {
	var buf [4]string
	f := appendFields(buf[:0], l)
	if len(f) != 3 || f[0] != "alias" {
		return aliasLine{}, false
	}
	// An alias with unmatched brackets matches nothing and is left out of
	// the binary index, but depmod keeps it in the text file.
	norm, _ := NormalizeAlias(f[1])
	return aliasLine{pattern: f[1], norm: norm, modname: strings.ReplaceAll(f[2], "-", "_")}, true
}

// parseDepLine parses "softdep MOD pre: A B post: C" and "weakdep MOD A B".
// Names before any "pre:"/"post:" of a softdep are ignored, as libkmod
// ignores them.
func parseDepLine(l string) (depLine, bool) {
	f := strings.Fields(l)
	if len(f) < 3 || (f[0] != "softdep" && f[0] != "weakdep") {
		return depLine{}, false
	}
	s := depLine{modname: strings.ReplaceAll(f[1], "-", "_"), text: l}
	if f[0] == "weakdep" {
		s.weak = f[2:]
		return s, true
	}
	s.pre, s.post = parseSoftdep(f[2:])
	return s, true
}

// parseSoftdep splits the words of a softdep value into its pre and post
// names.
func parseSoftdep(words []string) (pre, post []string) {
	mode := ""
	for _, w := range words {
		switch w {
		case "pre:", "post:":
			mode = w
			continue
		}
		switch mode {
		case "pre:":
			pre = append(pre, w)
		case "post:":
			post = append(post, w)
		}
	}
	return pre, post
}

// depLines returns the softdep lines (weak false) or the weakdep lines
// (weak true) of modules.softdep or modules.weakdep.
func depLines(b []byte, weak bool) []depLine {
	var ds []depLine
	for _, l := range lines(b) {
		if s, ok := parseDepLine(l); ok && (len(s.weak) > 0) == weak {
			ds = append(ds, s)
		}
	}
	return ds
}
