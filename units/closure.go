package units

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// DefaultDirs returns systemd's system unit search path, highest priority
// first, as Debian 12's systemd 252 has it ("systemd-analyze unit-paths",
// less the /run and generator directories that only exist at run time).
// Debian's build puts /lib before /usr/lib; on a merged-/usr root they are
// the same directory.
func DefaultDirs() []string {
	return []string{
		"/etc/systemd/system",
		"/usr/local/lib/systemd/system",
		"/lib/systemd/system",
		"/usr/lib/systemd/system",
	}
}

// WantsDir is where links for Options.Wants are created, as
// "systemctl enable" would: the directory systemd reads first.
const WantsDir = "/etc/systemd/system"

// Options says where units are looked up and which links are followed.
type Options struct {
	// Dirs is the unit search path inside the root, highest priority
	// first; nil means DefaultDirs.
	Dirs []string
	// FollowWants makes the .wants/ and .requires/ directories of every
	// included unit part of the closure: their links and the units the
	// links name.
	FollowWants bool
	// Wants asks for links that do not exist in the root, unit ->
	// units it should want, e.g. {"sysinit.target":
	// {"systemd-udevd.service"}}. Each becomes a Link in
	// WantsDir/<unit>.wants/, and the wanted units join the closure.
	Wants map[string][]string
}

// Item is a path in the root to put into the initrd: a unit file (or an
// alias symlink to one), a drop-in, or a link in a .wants/ or .requires/
// directory. The caller follows symlinks itself.
type Item struct {
	Path string
	Why  string
	// Data is the content of a file this package parsed (a unit file or a
	// drop-in), as read; nil for a link. A caller that looks into the file
	// can use it rather than read the file again.
	Data []byte
}

// Link is a symlink to create that the root does not have.
type Link struct {
	Path   string
	Target string
	Why    string
}

// Exec is an executable a unit runs, by its absolute path in the root.
type Exec struct {
	Path string // as found: the written path, or a PATH directory + name
	Unit string // the unit whose command it is
	Line string // file:line of the command
	Why  string
}

// Result is a closure's answer, each list sorted by path (Warnings by
// text), so that it does not depend on the order of work.
type Result struct {
	Items    []Item
	Links    []Link
	Execs    []Exec
	Warnings []string
}

// Closure works out what systemd needs to start the units names: for each
// unit its file (and any alias links to it), its drop-ins, the units it
// pulls in (Wants=, Requires=, Requisite=, BindsTo=, Upholds=,
// OnFailure=, OnSuccess=, Sockets=, Slice=, the unit a socket, path,
// timer or automount triggers, and the implicit dependencies on
// sysinit.target, dbus.socket and slices), recursively, and the
// executables of its Exec*= lines. Ordering and reverse dependencies
// (After=, Before=, PartOf=, Conflicts=, [Install]) pull in nothing.
//
// A requested unit that does not exist, a file systemd would refuse, and
// an executable that cannot be found are errors, all of them returned
// together (errors.Join, sorted). A missing dependency only warns, as
// systemd only logs it; so does a missing executable on a command line
// with the "-" prefix. The Result is returned even when there are errors.
func Closure(fsys *rootfs.FS, names []string, opts Options) (*Result, error) {
	c := &closureBuilder{
		fs:    fsys,
		opts:  opts,
		dirs:  opts.Dirs,
		items: map[string]Item{},
		read:  map[string][]byte{},
		links: map[string]Link{},
		execs: map[string]Exec{},
		warns: map[string]bool{},
		seen:  map[string]bool{},
		units: map[string]bool{},
	}
	if c.dirs == nil {
		c.dirs = DefaultDirs()
	}
	c.dirs = append([]string(nil), c.dirs...) // the caller's slice stays as it was
	for i, d := range c.dirs {
		c.dirs[i] = rootfs.Clean(d)
	}
	for _, d := range c.dirs {
		if r, _, err := fsys.Resolve(d); err == nil {
			c.realDirs = append(c.realDirs, r)
		}
	}
	for _, n := range names {
		c.push(job{name: n, why: "unit " + n, requested: true})
	}
	c.explicitWants()
	for len(c.queue) > 0 {
		j := c.queue[0]
		c.queue = c.queue[1:]
		c.unit(j)
	}
	for _, unit := range slices.Sorted(maps.Keys(opts.Wants)) {
		if !c.units[unit] {
			c.warnf("Wants links for %s are created, but %s itself is not in the closure", unit, unit)
		}
	}
	return c.result()
}

// job is a unit to visit and why.
type job struct {
	name      string
	why       string
	requested bool // asked for by the caller: a missing file is an error
}

// closureBuilder computes the closure of a set of units: it visits the
// queued units one at a time, and each visit records the unit's files,
// links and executables and queues the units it pulls in. The receiver
// name c stands for the closure under construction.
type closureBuilder struct {
	fs       *rootfs.FS
	opts     Options
	dirs     []string
	realDirs []string // dirs with symlinks resolved
	items    map[string]Item
	read     map[string][]byte // the files parsed, as read
	links    map[string]Link
	execs    map[string]Exec
	warns    map[string]bool
	errs     []error
	seen     map[string]bool // unit names queued
	units    map[string]bool // names of units visited, aliases included
	queue    []job
}

func (c *closureBuilder) push(j job) {
	if c.seen[j.name] {
		return
	}
	c.seen[j.name] = true
	c.queue = append(c.queue, j)
}

func (c *closureBuilder) warnf(format string, args ...any) {
	c.warns[fmt.Sprintf(format, args...)] = true
}

func (c *closureBuilder) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *closureBuilder) item(p, why string) {
	if _, ok := c.items[p]; !ok {
		c.items[p] = Item{Path: p, Why: why}
	}
}

func (c *closureBuilder) result() (*Result, error) {
	r := &Result{}
	for _, p := range slices.Sorted(maps.Keys(c.links)) {
		r.Links = append(r.Links, c.links[p])
	}
	for _, p := range slices.Sorted(maps.Keys(c.items)) {
		if _, ok := c.links[p]; !ok { // an explicit link replaces what is there
			it := c.items[p]
			it.Data = c.read[p]
			r.Items = append(r.Items, it)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(c.execs)) {
		r.Execs = append(r.Execs, c.execs[p])
	}
	r.Warnings = slices.Sorted(maps.Keys(c.warns))
	sort.Slice(c.errs, func(i, j int) bool { return c.errs[i].Error() < c.errs[j].Error() })
	return r, errors.Join(c.errs...)
}

// explicitWants turns Options.Wants into links and queued units.
func (c *closureBuilder) explicitWants() {
	for _, unit := range slices.Sorted(maps.Keys(c.opts.Wants)) {
		if u, ok := parseName(unit); !ok || u.kind == template {
			c.errorf("Wants: %q is not a valid unit name", unit)
			continue
		}
		for _, dep := range c.opts.Wants[unit] {
			u, ok := parseName(dep)
			if !ok || u.kind == template {
				c.errorf("Wants of %s: %q is not a valid unit name", unit, dep)
				continue
			}
			_, frag, err := c.fragment(dep)
			if err != nil {
				c.errs = append(c.errs, fmt.Errorf("Wants of %s: %w", unit, err))
				continue
			}
			if frag == "" {
				c.errorf("Wants of %s: unit %s not found in %s", unit, dep, strings.Join(c.dirs, ", "))
				continue
			}
			why := "explicit Wants of " + unit
			p := path.Join(WantsDir, unit+".wants", dep)
			c.links[p] = Link{Path: p, Target: frag, Why: why}
			c.push(job{name: dep, why: why})
		}
	}
}

// hop is one name on the way from a unit name to its file: where the name
// was found (a file, or a symlink that is an alias).
type hop struct {
	name string
	path string
}

// fragment finds the file of unit name as systemd's unit_file_find_fragment
// does: by name through the search path, following alias symlinks by the
// name they point to, and falling back to the template for an instance.
// frag is "" when there is none.
func (c *closureBuilder) fragment(name string) (hops []hop, frag string, err error) {
	hops, frag, err = c.follow(name)
	if frag != "" || err != nil {
		return hops, frag, err
	}
	if u, _ := parseName(name); u.kind == instance {
		return c.follow(u.templateName())
	}
	return nil, "", nil
}

// follow resolves name through alias links, as unit_ids_map_get does.
func (c *closureBuilder) follow(name string) ([]hop, string, error) {
	const maxHops = 8 // systemd's FOLLOW_MAX
	var hops []hop
	id := name
	for n := 0; n < maxHops; n++ {
		p, alias, err := c.lookup(id)
		if err != nil {
			return nil, "", err
		}
		if p == "" {
			if n == 0 {
				return nil, "", nil
			}
			// An alias to an instance may be served by its template.
			u, _ := parseName(id)
			if u.kind != instance {
				return nil, "", nil
			}
			id = u.templateName()
			if p, alias, err = c.lookup(id); err != nil || p == "" {
				return nil, "", err
			}
		}
		hops = append(hops, hop{name: id, path: p})
		if alias == "" {
			return hops, p, nil
		}
		id = alias
	}
	return nil, "", fmt.Errorf("unit %s: more than %d alias links", name, maxHops)
}

// lookup finds name in the first search directory that has a usable
// entry for it, as systemd's unit name map does. For a symlink into the
// search path (an alias), alias is the name it points to; a symlink
// elsewhere (a linked unit file, or a mask to /dev/null) is the unit file.
// A self-alias or an invalid alias is skipped, as systemd skips it.
func (c *closureBuilder) lookup(name string) (p, alias string, err error) {
	for _, dir := range c.dirs {
		p := path.Join(dir, name)
		fi, err := c.fs.Lstat(p)
		if err != nil {
			if notExist(err) {
				continue
			}
			return "", "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, "", nil
		}
		target, err := c.fs.Readlink(p)
		if err != nil {
			c.warnf("%s: %v; ignored", p, err)
			continue
		}
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		target = path.Clean(target)
		if !c.inSearchPath(target) {
			return p, "", nil
		}
		dst := path.Base(target)
		if dst == name {
			continue // a self-alias: no effect
		}
		if err := validAlias(name, dst); err != nil {
			c.warnf("%s: %v; systemd ignores this link", p, err)
			continue
		}
		return p, dst, nil
	}
	return "", "", nil
}

func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// inSearchPath reports whether p lies in a search directory, before or
// after resolving the symlinks in its directory part (systemd compares
// the target with its parents resolved).
func (c *closureBuilder) inSearchPath(p string) bool {
	cands := []string{p}
	if d, _, err := c.fs.Resolve(path.Dir(p)); err == nil {
		cands = append(cands, path.Join(d, path.Base(p)))
	}
	for _, cand := range cands {
		for _, dirs := range [][]string{c.dirs, c.realDirs} {
			for _, d := range dirs {
				if strings.HasPrefix(cand, d+"/") {
					return true
				}
			}
		}
	}
	return false
}

// validAlias applies systemd's unit_validate_alias_symlink_and_warn.
func validAlias(src, dst string) error {
	s, ok := parseName(src)
	if !ok {
		return fmt.Errorf("%q is not a valid unit name", src)
	}
	switch s.typ {
	case "service", "socket", "target", "device", "timer", "path":
	default:
		return fmt.Errorf("%s units cannot be aliased", s.typ)
	}
	d, ok := parseName(dst)
	switch {
	case !ok:
		return fmt.Errorf("alias target %q is not a valid unit name", dst)
	case !(d.kind == s.kind || s.kind == instance && d.kind == template):
		return fmt.Errorf("alias target %q does not match the kind of name (plain, template, instance)", dst)
	case d.kind == instance && d.instance != s.instance:
		return fmt.Errorf("alias target %q has another instance", dst)
	case d.typ != s.typ:
		return fmt.Errorf("alias target %q has another type", dst)
	}
	return nil
}

// noFileTypes are unit types systemd loads without a unit file.
var noFileTypes = map[string]bool{"slice": true, "device": true, "scope": true}

// located is an assignment with the file it came from.
type located struct {
	Entry
	file string
}

// unit visits one unit: it records the unit's file, the alias links on
// the way to it and its drop-ins, and queues what the unit pulls in.
func (c *closureBuilder) unit(j job) {
	u, ok := parseName(j.name)
	if !ok {
		c.report(j, "%q is not a valid unit name", j.name)
		return
	}
	hops, frag, err := c.fragment(j.name)
	if err != nil {
		c.report(j, "%v", err)
		return
	}
	if frag == "" && (!noFileTypes[u.typ] || j.requested) {
		c.report(j, "unit %s not found in %s", j.name, strings.Join(c.dirs, ", "))
		return
	}
	c.units[j.name] = true
	for _, h := range hops {
		c.item(h.path, j.why)
		c.units[h.name] = true
	}
	var entries []located
	if frag != "" {
		f, ok := c.fragmentFile(j, frag)
		if !ok {
			return
		}
		entries = addEntries(entries, f, frag)
	}
	names := unitNames(u, hops)
	entries = append(entries, c.dropins(j.name, u.typ, names)...)
	if c.opts.FollowWants {
		c.wantsDir(j.name, u.typ, names, ".wants", "Wants=")
		c.wantsDir(j.name, u.typ, names, ".requires", "Requires=")
	}
	c.deps(u, entries)
	if sec := unitTypes[u.typ]; execKeys[sec] != nil {
		c.commands(u, frag, sec, entries)
	}
}

// fragmentFile parses the unit file frag of job j. It reports false when
// there is nothing more to visit: the file masks the unit (systemd will
// not start it), or it cannot be read or parsed.
func (c *closureBuilder) fragmentFile(j job, frag string) (*File, bool) {
	if c.masked(frag) {
		return nil, false
	}
	if _, err := c.fs.Stat(frag); err != nil {
		c.report(j, "unit %s: %v", j.name, err)
		return nil, false
	}
	f, err := c.parse(frag)
	if err != nil {
		c.errs = append(c.errs, err)
		return nil, false
	}
	return f, true
}

// unitNames lists the names of unit u: its own, and those met on the way
// to its file, instantiated for an instance served by a template.
func unitNames(u unitName, hops []hop) []string {
	names := []string{u.full}
	for _, h := range hops {
		n := h.name
		if hn, _ := parseName(n); hn.kind == template && u.kind == instance {
			n = hn.withInstance(u.instance)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// dropins records the drop-ins of the unit called unit, of type typ and
// with the given names, and returns their assignments in the order
// systemd applies them.
func (c *closureBuilder) dropins(unit, typ string, names []string) []located {
	var entries []located
	for _, p := range c.listDirs(c.dropinDirs(names, typ, ".d"), ".conf") {
		if c.masked(p) {
			continue // masks a drop-in of that name, adds nothing
		}
		fi, err := c.fs.Stat(p)
		if err != nil {
			c.warnf("%s: %v; systemd ignores this drop-in", p, err)
			continue
		}
		if !fi.Mode().IsRegular() {
			c.warnf("%s: not a regular file; ignored", p)
			continue
		}
		f, err := c.parse(p)
		if err != nil {
			c.errs = append(c.errs, err)
			continue
		}
		c.item(p, "drop-in of "+unit)
		entries = addEntries(entries, f, p)
	}
	return entries
}

// masked reports whether p masks what it stands for, as systemd's
// null_or_empty_path sees it: a character device (/dev/null) or an empty
// file. A symlink to "/dev/null" counts even when the root has no /dev/null
// (an unpacked image), where systemd would see the booted system's.
func (c *closureBuilder) masked(p string) bool {
	if t, err := c.fs.Readlink(p); err == nil && path.Clean(t) == "/dev/null" {
		return true
	}
	fi, err := c.fs.Stat(p)
	return err == nil && (fi.Mode()&fs.ModeCharDevice != 0 || fi.Mode().IsRegular() && fi.Size() == 0)
}

// report is a problem with a unit: an error when the caller asked for it,
// else a warning (systemd only logs missing or broken dependencies).
func (c *closureBuilder) report(j job, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if j.requested {
		c.errs = append(c.errs, errors.New(msg))
		return
	}
	c.warnf("%s (%s)", msg, j.why)
}

func addEntries(dst []located, f *File, file string) []located {
	for _, e := range f.Entries {
		dst = append(dst, located{e, file})
	}
	return dst
}

// parse reads and parses the unit file p, and keeps what it read for the
// caller (see Item.Data).
func (c *closureBuilder) parse(p string) (*File, error) {
	b, err := c.fs.ReadFile(p)
	if err != nil {
		return nil, err
	}
	c.read[p] = b
	return Parse(bytes.NewReader(b), p)
}

// dropinDirs lists the directories systemd searches for a unit's drop-ins
// (suffix ".d") or dependency links (".wants", ".requires"), in its order
// (unit_file_find_dropin_paths): for each name of the unit and each search
// directory the name's own directory, its template's, and those of its
// dash prefixes (foo-bar-baz.service: foo-bar-.service, foo-.service);
// then the type-wide one (service.d) in each search directory.
func (c *closureBuilder) dropinDirs(names []string, typ, suffix string) []string {
	var out []string
	var walk func(dir, name string)
	walk = func(dir, name string) {
		if p := path.Join(dir, name+suffix); !slices.Contains(out, p) {
			out = append(out, p)
		}
		u, ok := parseName(name)
		if !ok {
			return
		}
		if u.kind == instance {
			walk(dir, u.templateName())
		}
		prefix, chopped := u.prefix, false
		for {
			i := strings.LastIndexByte(prefix, '-')
			if i <= 0 {
				return
			}
			if i+1 < len(prefix) || chopped {
				prefix = prefix[:i+1]
				break
			}
			prefix, chopped = prefix[:i], true // a trailing dash: chop it once
		}
		built := prefix + "." + u.typ
		if u.kind == instance {
			built = prefix + "@" + u.instance + "." + u.typ
		}
		walk(dir, built)
	}
	for _, n := range names {
		for _, d := range c.dirs {
			walk(d, n)
		}
	}
	for _, d := range c.dirs {
		if p := path.Join(d, typ+suffix); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// listDirs merges directories as systemd's conf_files_list does: entries
// by file name (ending in suffix, if given; hidden and backup files
// skipped), the first directory holding a name winning, sorted by name.
func (c *closureBuilder) listDirs(dirs []string, suffix string) []string {
	byName := map[string]string{}
	for _, d := range dirs {
		ents, err := c.fs.ReadDir(d)
		if err != nil {
			if !notExist(err) {
				c.errs = append(c.errs, err)
			}
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if hiddenOrBackup(n) || !strings.HasSuffix(n, suffix) {
				continue
			}
			if _, ok := byName[n]; !ok {
				byName[n] = path.Join(d, n)
			}
		}
	}
	var out []string
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[n])
	}
	return out
}

// hiddenOrBackup is systemd's hidden_or_backup_file.
func hiddenOrBackup(n string) bool {
	if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") ||
		n == "lost+found" || n == "aquota.user" || n == "aquota.group" {
		return true
	}
	for _, s := range []string{".rpmnew", ".rpmsave", ".rpmorig", ".dpkg-old", ".dpkg-new",
		".dpkg-tmp", ".dpkg-dist", ".dpkg-bak", ".dpkg-backup", ".dpkg-remove",
		".ucf-new", ".ucf-old", ".ucf-dist", ".swp", ".bak", ".pacnew", ".pacsave"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// wantsDir follows a unit's .wants/ or .requires/ links as systemd's
// process_deps does: each must be a symlink with a unit name; the unit it
// pulls in is the one the link is named after, whatever it points to.
func (c *closureBuilder) wantsDir(unit, typ string, names []string, suffix, kind string) {
	for _, p := range c.listDirs(c.dropinDirs(names, typ, suffix), "") {
		n := path.Base(p)
		if c.masked(p) {
			continue
		}
		fi, err := c.fs.Lstat(p)
		if err != nil {
			c.errs = append(c.errs, err)
			continue
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			c.warnf("%s: not a symlink; systemd ignores it", p)
			continue
		}
		if u, ok := parseName(n); !ok || u.kind == template {
			c.warnf("%s: %q is not a unit name systemd can pull in; ignored", p, n)
			continue
		}
		c.item(p, fmt.Sprintf("%s link of %s", suffix[1:], unit))
		c.push(job{name: n, why: fmt.Sprintf("%s (link in %s) of %s", kind, path.Dir(p), unit)})
	}
}

// depKeys are the [Unit] settings that make systemd start other units.
var depKeys = []string{"Wants", "Requires", "Requisite", "BindsTo", "Upholds", "OnFailure", "OnSuccess"}

// deps queues the units that u's settings pull in: first those the
// settings name, in the order they are given, then the implicit ones.
func (c *closureBuilder) deps(u unitName, entries []located) {
	c.implicitDeps(u, c.explicitDeps(u, entries))
}

// depSettings are the settings of a unit that decide which units it
// pulls in without naming them as dependencies.
type depSettings struct {
	defaultDeps bool   // DefaultDependencies=
	slice       string // Slice=, checked and expanded
	service     string // a socket's Service=, checked and expanded
	accept      bool   // a socket's Accept=
	triggers    string // a timer's or path unit's Unit=, checked and expanded
	svcType     string // a service's Type=
	busName     string // a service's BusName=
}

// explicitDeps queues the units u's settings name as dependencies
// (depKeys, and a service's Sockets=) and returns the settings that
// decide its implicit dependencies.
func (c *closureBuilder) explicitDeps(u unitName, entries []located) depSettings {
	sec := unitTypes[u.typ]
	s := depSettings{defaultDeps: true}
	for _, e := range entries {
		switch {
		case e.Section == "Unit" && slices.Contains(depKeys, e.Key):
			for _, w := range strings.FieldsFunc(e.Value, isSpace) {
				c.dep(u, e, w, "")
			}
		case e.Section == "Unit" && e.Key == "DefaultDependencies":
			if b, ok := parseBool(e.Value); ok {
				s.defaultDeps = b
			}
		case e.Section != sec || sec == "":
		case e.Key == "Sockets" && sec == "Service":
			for _, w := range strings.FieldsFunc(e.Value, isSpace) {
				c.dep(u, e, w, "socket")
			}
		case e.Key == "Slice" && (sec == "Service" || sec == "Socket" || sec == "Mount" || sec == "Swap" || sec == "Scope"):
			if n, ok := c.depName(u, e, e.Value, "slice"); ok {
				s.slice = n
			}
		case e.Key == "Service" && sec == "Socket":
			if n, ok := c.depName(u, e, e.Value, "service"); ok {
				s.service = n
			}
		case e.Key == "Accept" && sec == "Socket":
			if b, ok := parseBool(e.Value); ok {
				s.accept = b
			}
		case e.Key == "Unit" && (sec == "Timer" || sec == "Path"):
			if n, ok := c.depName(u, e, e.Value, ""); ok {
				s.triggers = n
			}
		case e.Key == "Type" && sec == "Service":
			s.svcType = e.Value
		case e.Key == "BusName" && sec == "Service":
			s.busName = e.Value
		}
	}
	return s
}

// implicitDeps queues the units systemd adds to u by its type and
// settings s: what a socket, timer, path unit or automount triggers, a
// slice's parent, dbus.socket for a D-Bus service, sysinit.target for
// default dependencies, and the slice a unit runs in.
func (c *closureBuilder) implicitDeps(u unitName, s depSettings) {
	implicit := func(name, why string) {
		c.push(job{name: name, why: why + " of " + u.full})
	}
	switch u.typ {
	case "socket":
		switch {
		case s.accept:
			// Each connection gets an instance of prefix@.service, so the
			// template itself is what the initrd needs.
			c.push(job{name: u.prefix + "@.service", why: "service (Accept=yes) of " + u.full})
		case s.service != "":
			implicit(s.service, "Service=")
		default:
			implicit(u.withType("service"), "service")
		}
	case "timer", "path":
		triggers := s.triggers
		if triggers == "" {
			triggers = u.withType("service")
		}
		implicit(triggers, "Unit=")
	case "automount":
		implicit(u.withType("mount"), "mount")
	case "slice":
		if p := parentSlice(u.full); p != "" {
			implicit(p, "parent slice")
		}
	case "service":
		if s.svcType == "dbus" || s.svcType == "" && s.busName != "" {
			implicit("dbus.socket", "Requires= (Type=dbus)")
		}
	}
	if s.defaultDeps {
		switch u.typ {
		case "service", "socket", "timer", "path":
			implicit("sysinit.target", "Requires= (DefaultDependencies=yes)")
		}
	}
	switch u.typ {
	case "service", "socket", "mount", "swap", "scope":
		slice := s.slice
		if slice == "" {
			slice = "system.slice"
			if u.kind == instance {
				slice = "system-" + escapeName(u.prefix) + ".slice"
			}
		}
		implicit(slice, "Slice=")
	}
}

// dep queues one dependency word of entry e.
func (c *closureBuilder) dep(u unitName, e located, word, typ string) {
	if n, ok := c.depName(u, e, word, typ); ok {
		c.push(job{name: n, why: e.Key + "= of " + u.full})
	}
}

// depName expands the specifiers in a unit name from a setting and checks
// it (and its type, if typ is given). Problems are warnings: systemd logs
// them and ignores the dependency.
func (c *closureBuilder) depName(u unitName, e located, word, typ string) (string, bool) {
	n, err := u.expand(word, false, "")
	if err != nil {
		c.warnf("%s:%d: %s=%s: %v; systemd ignores this dependency", e.file, e.Line, e.Key, word, err)
		return "", false
	}
	d, ok := parseName(n)
	switch {
	case !ok:
		c.warnf("%s:%d: %s=: %q is not a valid unit name; systemd ignores it", e.file, e.Line, e.Key, n)
		return "", false
	case d.kind == template:
		c.warnf("%s:%d: %s=: %q is a template, which cannot be pulled in; systemd ignores it", e.file, e.Line, e.Key, n)
		return "", false
	case typ != "" && d.typ != typ:
		c.warnf("%s:%d: %s=: %q is not a .%s unit; systemd ignores it", e.file, e.Line, e.Key, n, typ)
		return "", false
	}
	return n, true
}

// parentSlice is the slice systemd puts a slice in: a-b.slice is in
// a.slice, a.slice in -.slice.
func parentSlice(name string) string {
	if name == "-.slice" {
		return ""
	}
	base := strings.TrimSuffix(name, ".slice")
	if i := strings.LastIndexByte(base, '-'); i >= 0 {
		return base[:i] + ".slice"
	}
	return "-.slice"
}

func isSpace(r rune) bool { return r < 0x80 && strings.IndexByte(whitespace, byte(r)) >= 0 }

// parseBool is systemd's parse_boolean.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}
