// Package kmod decides which kernel modules and firmware files an initrd
// needs, the way modprobe would find them, and writes the module indexes
// that modprobe and udev inside the initrd read.
//
// Names are looked up like libkmod does (modprobe.d aliases, module names,
// modules.alias patterns, built-in modules), then the closure takes hard
// dependencies from modules.dep and soft ones (pre: and post:) from
// modules.softdep, modprobe.d and each module's own .modinfo. The indexes
// are written for the chosen subset only, text and binary: libkmod reads
// modules.dep.bin and modules.alias.bin and has no fallback to the text
// files, so an initrd without them cannot load a single module by name.
//
// Every read of the source tree goes through a rootfs.FS.
package kmod

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Options says which modules to put in an initrd.
type Options struct {
	// KernelVersion names the directory under /lib/modules; empty means
	// the newest one that has a modules.dep.
	KernelVersion string
	// Load names modules to include and to load at boot (listed in
	// /etc/modules-load.d/mkinitrd-ng.conf); Include names modules to
	// include only, for udev to load on demand. A name is a module name,
	// an alias ("crc32c", "fs-ext4") or a built-in module.
	Load, Include []string
	// Firmware adds the firmware files the included modules declare.
	Firmware bool
	// Decompress stores compressed modules (.ko.xz, .ko.zst, .ko.gz)
	// uncompressed, so that the outer compression of the archive sees the
	// plain data; the indexes then name the .ko files.
	Decompress bool
}

// File is a file of the tree to put in the initrd.
type File struct {
	Path   string // path inside the initrd
	Source string // path inside the tree; differs from Path when Decompress
	// Size is the size of the content stored in the initrd: the
	// decompressed size when Decompress is set.
	Size int64
	// Decompress says the content is Source decoded from the format its
	// first bytes name (compressors.NewDecoder).
	Decompress bool
	Why        string // what pulled the file in
	From       string // the initrd path of the module that did; "" for the manifest
	// Data is the content of a configuration file as this package read
	// it, for a caller that looks into the file; nil for modules and
	// firmware, which are not kept in memory.
	Data []byte
}

// Generated is a file made by this package rather than copied.
type Generated struct {
	Path string // path inside the initrd
	Data []byte
	Why  string
}

// Result is the module part of an initrd.
type Result struct {
	KernelVersion string
	ModuleDir     string   // "/lib/modules/VERSION"
	Modules       []File   // module files, sorted by Path
	Builtin       []string // names asked for that the kernel has built in, sorted
	Firmware      []File   // firmware files, sorted by Path
	// Config lists the tree's modprobe.d files that were read: they hold
	// aliases, options and blacklists that modprobe in the initrd should
	// see too.
	Config    []File
	Generated []Generated // the module indexes and modules-load.d file, sorted by Path
	Warnings  []string    // sorted
}

// ModulesLoadConf is where the modules of Options.Load are listed for
// systemd-modules-load.
const ModulesLoadConf = "/etc/modules-load.d/mkinitrd-ng.conf"

// included is a module of the closure.
type included struct {
	m     *module
	why   string
	from  string
	facts moduleFacts
	err   error
}

type resolver struct {
	fsys     *rootfs.FS
	opts     Options
	ver      string
	db       *db
	cfg      *config
	mods     map[string]*included
	pending  []*included
	builtins map[string]bool
	errs     []error
	warns    []string
}

// Resolve finds the modules, firmware and indexes for opts in the tree.
// Every problem is reported: the errors are joined, sorted. After the
// kernel's indexes are read, a Result comes back even with an error, so
// its warnings can be shown too.
func Resolve(fsys *rootfs.FS, opts Options) (*Result, error) {
	r, dir, err := newResolver(fsys, opts)
	if err != nil {
		return nil, err
	}
	ver, d, cfg := r.ver, r.db, r.cfg
	for _, n := range opts.Load {
		r.request(n, "load")
	}
	for _, n := range opts.Include {
		r.request(n, "include")
	}
	r.closure()

	res := &Result{KernelVersion: ver, ModuleDir: dir}
	for _, inc := range r.sorted() {
		src := d.path(inc.m)
		f := File{Path: src, Source: src, Size: inc.facts.size, Why: inc.why, From: inc.from}
		if opts.Decompress && compression(src) != "" {
			f.Path = strings.TrimSuffix(src, compression(src))
			f.Decompress = true
		} else if fi, err := fsys.Stat(src); err == nil {
			f.Size = fi.Size()
		}
		res.Modules = append(res.Modules, f)
	}
	sort.Slice(res.Modules, func(i, j int) bool { return res.Modules[i].Path < res.Modules[j].Path })
	for n := range r.builtins {
		res.Builtin = append(res.Builtin, n)
	}
	sort.Strings(res.Builtin)
	if opts.Firmware {
		res.Firmware = r.firmware()
	}
	for _, c := range cfg.files {
		res.Config = append(res.Config, File{Path: c.path, Source: c.path, Size: int64(len(c.data)),
			Why: "modprobe configuration", Data: c.data})
	}
	gen, err := r.generate()
	if err != nil {
		r.errs = append(r.errs, err)
	}
	res.Generated = gen
	sort.Strings(r.warns)
	res.Warnings = r.warns
	if len(r.errs) > 0 {
		return res, joinSorted(r.errs)
	}
	return res, nil
}

// newResolver reads the indexes of the kernel opts names (the newest
// one by default) and the root's modprobe.d, and returns a resolver with
// nothing requested yet, and the kernel's module directory.
func newResolver(fsys *rootfs.FS, opts Options) (*resolver, string, error) {
	ver := opts.KernelVersion
	if ver == "" {
		v, err := DefaultKernelVersion(fsys)
		if err != nil {
			return nil, "", err
		}
		ver = v
	}
	if strings.ContainsRune(ver, '/') || ver == "." || ver == ".." {
		return nil, "", fmt.Errorf("kernel version %q: not a directory name", ver)
	}
	dir, err := moduleDir(fsys, ver)
	if err != nil {
		return nil, "", err
	}
	d, err := loadDB(fsys, dir)
	if err != nil {
		return nil, "", err
	}
	cfg, err := loadConfig(fsys)
	if err != nil {
		return nil, "", err
	}
	return &resolver{fsys: fsys, opts: opts, ver: ver, db: d, cfg: cfg,
		mods: map[string]*included{}, builtins: map[string]bool{}}, dir, nil
}

// moduleDir returns the directory holding ver's modules.dep.
func moduleDir(fsys *rootfs.FS, ver string) (string, error) {
	var first error
	for _, root := range moduleRoots {
		dir := path.Join(root, ver)
		if _, err := fsys.Stat(path.Join(dir, "modules.dep")); err == nil {
			return dir, nil
		} else if first == nil {
			first = err
		}
	}
	if errors.Is(first, fs.ErrNotExist) {
		if vers, err := KernelVersions(fsys); err == nil && len(vers) > 0 {
			return "", fmt.Errorf("kernel %s: no %s/%s/modules.dep (versions present: %s)", ver, moduleRoots[0], ver, strings.Join(vers, ", "))
		}
		return "", fmt.Errorf("kernel %s: no %s/%s/modules.dep", ver, moduleRoots[0], ver)
	}
	return "", fmt.Errorf("kernel %s: %w", ver, first)
}

// request adds the modules a name of the manifest stands for.
func (r *resolver) request(name, how string) {
	mods, builtin, via, err := r.lookup(name)
	if err != nil {
		r.errs = append(r.errs, err)
		return
	}
	if builtin {
		r.builtins[name] = true
		return
	}
	for _, m := range mods {
		why := how + " " + name
		if via != "" {
			why += " (" + via + " " + m.name + ")"
		}
		r.add(m, why, "")
	}
}

// lookup finds what a module name or alias stands for, in libkmod's
// order: modprobe.d aliases, modules.dep names, symbol aliases,
// modules.alias patterns, modules.builtin names, then the aliases of
// built-in modules. Dashes and underscores are the same.
func (r *resolver) lookup(name string) (mods []*module, builtin bool, via string, err error) {
	norm, ok := NormalizeAlias(name)
	if !ok || norm == "" {
		return nil, false, "", fmt.Errorf("module %q: not a valid module name or alias", name)
	}
	seen := map[string]bool{}
	addName := func(modname string) {
		if m := r.db.byName[modname]; m != nil && !seen[modname] {
			seen[modname] = true
			mods = append(mods, m)
		} else if m == nil && r.db.builtin[modname] {
			builtin = true
		}
	}
	for _, a := range r.cfg.aliases {
		if a.norm != "" && fnmatch(a.norm, norm) {
			addName(a.modname)
		}
	}
	if len(mods) > 0 || builtin {
		return mods, len(mods) == 0 && builtin, "modprobe.d alias of", nil
	}
	if m := r.db.byName[norm]; m != nil {
		return []*module{m}, false, "", nil
	}
	if strings.HasPrefix(norm, "symbol:") {
		for a := range r.db.symbols.matching(norm) {
			if fnmatch(a.pattern, norm) {
				addName(a.modname)
			}
		}
		if len(mods) > 0 {
			return mods, false, "symbol of", nil
		}
	}
	for a := range r.db.aliases.matching(norm) {
		if a.norm != "" && fnmatch(a.norm, norm) {
			addName(a.modname)
		}
	}
	if len(mods) > 0 {
		return mods, false, "alias of", nil
	}
	if r.db.builtin[norm] {
		return nil, true, "", nil
	}
	for _, mod := range slices.Sorted(maps.Keys(r.db.builtinInfo)) {
		for _, a := range r.db.builtinInfo[mod] {
			if an, ok := NormalizeAlias(a); ok && fnmatch(an, norm) {
				return nil, true, "", nil
			}
		}
	}
	return nil, false, "", r.unknown(name, norm)
}

// unknown is the error for a name nothing matches, with close names.
func (r *resolver) unknown(name, norm string) error {
	names := make([]string, 0, len(r.db.modules)+len(r.db.builtin))
	for _, m := range r.db.modules {
		names = append(names, m.name)
	}
	for n := range r.db.builtin {
		names = append(names, n)
	}
	msg := fmt.Sprintf("module %q not found for kernel %s (not a module in %s/modules.dep, an alias or built in)", name, r.ver, r.db.dir)
	if close := closeMatches(norm, names, 5); len(close) > 0 {
		msg += "; close matches: " + strings.Join(close, ", ")
	}
	return errors.New(msg)
}

// add puts m in the closure, remembering the first reason.
func (r *resolver) add(m *module, why, from string) {
	if _, ok := r.mods[m.name]; ok {
		return
	}
	inc := &included{m: m, why: why, from: from}
	r.mods[m.name] = inc
	r.pending = append(r.pending, inc)
}

// closure adds dependencies until none is new. Each round reads the
// .modinfo of the round's new modules in parallel; the modules are then
// walked in a fixed order so the reasons recorded never depend on
// scheduling.
func (r *resolver) closure() {
	for len(r.pending) > 0 {
		round := r.pending
		r.pending = nil
		sort.Slice(round, func(i, j int) bool { return round[i].m.name < round[j].m.name })
		r.readAll(round)
		for _, inc := range round {
			r.expand(inc)
		}
	}
}

func (r *resolver) readAll(round []*included) {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, inc := range round {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			inc.facts, inc.err = readModule(r.fsys, r.db.path(inc.m))
		}()
	}
	wg.Wait()
}

// initrdPath is where module m lands in the initrd.
func (r *resolver) initrdPath(m *module) string {
	p := r.db.path(m)
	if r.opts.Decompress {
		p = strings.TrimSuffix(p, compression(p))
	}
	return p
}

func (r *resolver) expand(inc *included) {
	m := inc.m
	from := r.initrdPath(m)
	if inc.err != nil {
		r.errs = append(r.errs, fmt.Errorf("module %s (%s): %w", m.name, inc.why, inc.err))
	}
	for _, d := range m.deps {
		dm := r.db.byRel[d]
		if dm == nil {
			r.errs = append(r.errs, fmt.Errorf("%s/modules.dep: %s needs %s, which has no line of its own (run depmod)", r.db.dir, m.rel, d))
			continue
		}
		r.add(dm, "needed by module "+m.name, from)
	}
	pre, post, weak := r.softdeps(inc)
	for _, dep := range []struct {
		kind  string
		names []string
	}{{"pre", pre}, {"post", post}, {"weak", weak}} {
		for _, n := range dep.names {
			mods, _, _, err := r.lookup(n)
			if err != nil {
				r.warns = append(r.warns, fmt.Sprintf("module %s: %s soft dependency %s: %v", m.name, dep.kind, n, err))
				continue
			}
			why := "soft dependency (" + dep.kind + ") of module " + m.name
			if dep.kind == "weak" {
				why = "weak dependency of module " + m.name
			}
			why += ": " + n
			for _, sm := range mods {
				r.add(sm, why, from)
			}
		}
	}
}

// softdeps gathers the soft and weak dependencies of a module from
// modprobe.d, modules.softdep / modules.weakdep and the module's own
// .modinfo. libkmod uses only the first matching softdep line of its
// configuration; taking them all can only add modules, which for an
// initrd is the safe side.
func (r *resolver) softdeps(inc *included) (pre, post, weak []string) {
	seenPre, seenPost, seenWeak := map[string]bool{}, map[string]bool{}, map[string]bool{}
	uniq := func(list *[]string, seen map[string]bool, names []string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				*list = append(*list, n)
			}
		}
	}
	name := inc.m.name
	for _, src := range [][]depLine{r.cfg.softdeps, r.db.softdeps, r.cfg.weakdeps, r.db.weakdeps} {
		for _, s := range src {
			if fnmatch(s.modname, name) {
				uniq(&pre, seenPre, s.pre)
				uniq(&post, seenPost, s.post)
				uniq(&weak, seenWeak, s.weak)
			}
		}
	}
	for _, v := range inc.facts.info.Get("softdep") {
		p, q := parseSoftdep(strings.Fields(v))
		uniq(&pre, seenPre, p)
		uniq(&post, seenPost, q)
	}
	for _, v := range inc.facts.info.Get("weakdep") {
		uniq(&weak, seenWeak, strings.Fields(v))
	}
	return pre, post, weak
}

// sorted returns the included modules in modules.dep order.
func (r *resolver) sorted() []*included {
	out := make([]*included, 0, len(r.mods))
	for _, inc := range r.mods {
		out = append(out, inc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].m.idx < out[j].m.idx })
	return out
}

// joinSorted joins errors in the order of their messages.
func joinSorted(errs []error) error {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}
