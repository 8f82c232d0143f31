// Package resolve turns a manifest into the closure of an initrd: every
// path to archive, where its content comes from, and why it is there.
//
// It follows ELF dependencies (package elfdeps), symlink chains, shebang
// interpreters, store-path references and systemd units (package units),
// reading the source tree only through a root-confined rootfs.FS.
package resolve

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/mkinitrd-ng/mkinitrd-ng/elfdeps"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Options tune a resolution.
type Options struct {
	// Jobs bounds how many files are analysed at once (0: GOMAXPROCS).
	Jobs int
	// AllowMissing turns libraries that cannot be found into warnings.
	AllowMissing bool
	// KernelVersion overrides the manifest's modules.kernelVersion.
	KernelVersion string
}

// request asks for one path of the root and what to do with it.
type request struct {
	path   string // path inside the root, symlinks not yet followed
	target string // where the content goes, if not at its own path
	why    string
	from   string
	// program makes an ELF file's loading closure followed (false for
	// libraries found as dependencies: their closure is their program's).
	program bool
	// recurse copies a directory's children too.
	recurse bool
	dlopen  elfdeps.DlopenPolicy
	// override holds the manifest's mode, uid and gid, if any.
	override *Content
}

func (q *request) key() string {
	return fmt.Sprintf("%s\x00%s\x00%t\x00%t\x00%s\x00%s", q.path, q.target, q.program, q.recurse,
		q.dlopen.Priority, strings.Join(q.dlopen.Features, ","))
}

// outcome is what handling one request found.
type outcome struct {
	entries  []Entry
	next     []request
	warnings []string
	errs     []error
}

func (o *outcome) warnf(format string, args ...any) {
	o.warnings = append(o.warnings, fmt.Sprintf(format, args...))
}

// Limits of what a newc archive and the kernel's unpacker can hold.
const (
	MaxFileSize = 1<<32 - 1 // newc's size field has 8 hex digits
	MaxPath     = 4095      // PATH_MAX, less the terminating NUL
	MaxName     = 255       // NAME_MAX, one path component
)

// resolver holds the state of one resolution.
type resolver struct {
	fs       *rootfs.FS
	m        *Manifest
	opts     Options
	loader   *elfdeps.Loader
	store    *storeScanner
	heads    sync.Pool         // 4 KiB buffers for the first bytes of each file
	dirs     sync.Map          // directory path -> *resolvedDir
	explicit map[string]*Entry // from the manifest: they win
	entries  map[string]*Entry
	seen     map[string]bool
	warnings []string
	errs     []error
}

// Resolve computes the closure of m inside fsys.
func Resolve(m *Manifest, fsys *rootfs.FS, opts Options) (*Closure, error) {
	if err := m.Validate(); err != nil {
		origin := m.Origin
		if origin == "" {
			origin = "manifest"
		}
		return nil, fmt.Errorf("%s: %w", origin, err)
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.GOMAXPROCS(0)
	}
	loader, err := elfdeps.NewLoader(fsys)
	if err != nil {
		return nil, err
	}
	r := &resolver{
		fs: fsys, m: m, opts: opts, loader: loader,
		store:    newStoreScanner(existingDirs(fsys, m.storeDirs())),
		explicit: map[string]*Entry{},
		entries:  map[string]*Entry{},
		seen:     map[string]bool{},
	}
	r.heads.New = func() any { return new([4096]byte) }
	queue, err := r.fromManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Origin, err)
	}
	unitReqs, err := r.fromUnits()
	if err != nil {
		return nil, err
	}
	queue = append(queue, unitReqs...)
	modReqs, err := r.fromModules()
	if err != nil {
		return nil, err
	}
	queue = append(queue, modReqs...)
	r.run(queue)
	r.checkNames()
	if len(r.errs) > 0 {
		return nil, joinSorted(r.errs)
	}
	return r.closure(), nil
}

// run handles requests round by round: each round's requests are
// analysed concurrently, then merged in a fixed order, so the result
// never depends on scheduling or on the manifest's order.
func (r *resolver) run(queue []request) {
	for len(queue) > 0 {
		round := r.dedup(queue)
		outs := make([]outcome, len(round))
		sem := make(chan struct{}, r.opts.Jobs)
		var wg sync.WaitGroup
		for i := range round {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				outs[i] = r.handle(&round[i])
			}(i)
		}
		wg.Wait()
		queue = nil
		for i := range outs {
			for j := range outs[i].entries {
				r.add(&outs[i].entries[j])
			}
			r.warnings = append(r.warnings, outs[i].warnings...)
			r.errs = append(r.errs, outs[i].errs...)
			queue = append(queue, outs[i].next...)
		}
	}
}

// dedup drops requests handled before and sorts the rest by key.
func (r *resolver) dedup(queue []request) []request {
	type keyed struct {
		key string
		q   request
	}
	var fresh []keyed
	for _, q := range queue {
		k := q.key()
		if !r.seen[k] {
			r.seen[k] = true
			fresh = append(fresh, keyed{k, q})
		}
	}
	// Sorting by precomputed keys: a key is built with fmt, too slow to
	// build twice per comparison when a round holds 100,000 requests.
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].key < fresh[j].key })
	round := make([]request, len(fresh))
	for i := range fresh {
		round[i] = fresh[i].q
	}
	return round
}

// add records a derived entry; the manifest's own entries win.
func (r *resolver) add(e *Entry) {
	if x, ok := r.explicit[e.Path]; ok {
		if x.Kind != e.Kind && !(x.Source != "" && x.Source == e.Source) {
			r.warnings = append(r.warnings, fmt.Sprintf("%s: the manifest's %s replaces the %s found in the root (%s)", e.Path, x.Kind, e.Kind, e.Why))
		}
		return
	}
	if _, ok := r.entries[e.Path]; ok {
		return
	}
	c := *e
	r.entries[e.Path] = &c
}

// handle analyses one request. It only reads the tree, so requests run
// concurrently.
func (r *resolver) handle(q *request) outcome {
	var o outcome
	final, links, err := r.resolvePath(q.path)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", q.path, q.why, unwrapPath(err)))
		return o
	}
	why, from := q.why, q.from
	if q.target == "" {
		why, from = r.linkEntries(&o, links, q)
	}
	fi, err := r.fs.Lstat(final)
	if err != nil {
		if len(links) > 0 && errors.Is(err, fs.ErrNotExist) && q.target == "" {
			o.warnf("%s: dangling symlink to %s kept (%s)", links[len(links)-1].Path, final, q.why)
			return o
		}
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", q.path, q.why, unwrapPath(err)))
		return o
	}
	dest := final
	if q.target != "" {
		dest = q.target
	}
	switch {
	case fi.IsDir():
		r.dirEntry(&o, q, dest, fi, why, from, final)
	case fi.Mode().IsRegular() && fi.Size() > MaxFileSize:
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %d bytes is too large for a newc archive (the limit is 4 GiB - 1)", final, q.why, fi.Size()))
	case fi.Mode().IsRegular():
		e := fileEntry(dest, final, fi, why, from)
		applyOverride(&e, q.override)
		o.entries = append(o.entries, e)
		r.analyse(&o, q, final, fi)
	default:
		o.errs = append(o.errs, fmt.Errorf("%s (%s): is a %s, not a regular file, directory or symlink: give it as a \"type\" entry", final, q.why, typeName(fi.Mode())))
	}
	return o
}

// linkEntries keeps every symlink met on the way to q.path as a symlink
// at its own path, and returns the reason to give the final target: the
// request's own, naming the path it was asked by.
func (r *resolver) linkEntries(o *outcome, links []rootfs.Link, q *request) (string, string) {
	if len(links) == 0 {
		return q.why, q.from
	}
	for _, l := range links {
		o.entries = append(o.entries, Entry{Path: l.Path, Kind: Symlink, LinkTarget: l.Target, Mode: 0o777,
			Why: "on the way to " + q.path + ", " + q.why, From: q.from})
	}
	return q.why + ", as " + q.path, q.from
}

func (r *resolver) dirEntry(o *outcome, q *request, dest string, fi fs.FileInfo, why, from, final string) {
	e := Entry{Path: dest, Kind: Dir, Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSetuid | fs.ModeSticky), Why: why, From: from}
	applyOverride(&e, q.override)
	o.entries = append(o.entries, e)
	if !q.recurse {
		return
	}
	children, err := r.fs.ReadDir(final)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", final, q.why, unwrapPath(err)))
		return
	}
	childWhy := "in directory " + dest // one string shared by the children
	for _, c := range children {
		child := request{path: path.Join(final, c.Name()), why: childWhy, from: dest,
			program: true, recurse: true, dlopen: q.dlopen}
		if q.target != "" {
			child.target = path.Join(dest, c.Name())
			if c.Type()&fs.ModeSymlink != 0 {
				o.errs = append(o.errs, fmt.Errorf("%s: a symlink inside a directory copied to another path (%s) is not supported", child.path, dest))
				continue
			}
		}
		o.next = append(o.next, child)
	}
}

func fileEntry(dest, source string, fi fs.FileInfo, why, from string) Entry {
	e := Entry{Path: dest, Kind: File, Source: source, Size: fi.Size(),
		Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSetuid | fs.ModeSticky), Why: why, From: from}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		e.HardLink = fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return e
}

func applyOverride(e *Entry, c *Content) {
	if c == nil {
		return
	}
	if m, _ := c.mode(); m != nil {
		e.Mode = modeFromUnix(*m)
	}
	if c.UID != nil {
		e.UID = *c.UID
	}
	if c.GID != nil {
		e.GID = *c.GID
	}
}

// modeFromUnix converts permission bits with setuid, setgid and sticky.
func modeFromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return m.Type().String()
}

// unwrapPath drops the *fs.PathError wrapper, whose path is relative to
// the root's descriptor and would only repeat the path already named.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func joinSorted(errs []error) error {
	msgs := make([]string, 0, len(errs))
	seen := map[string]bool{}
	for _, e := range errs {
		if m := e.Error(); !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	sort.Strings(msgs)
	out := make([]error, len(msgs))
	for i, m := range msgs {
		out[i] = errors.New(m)
	}
	return errors.Join(out...)
}

// closure sorts the entries and adds the missing parent directories.
func (r *resolver) closure() *Closure {
	all := map[string]*Entry{}
	for p, e := range r.entries {
		all[p] = e
	}
	for p, e := range r.explicit {
		all[p] = e
	}
	for p := range all {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := all[dir]; ok {
				continue
			}
			all[dir] = &Entry{Path: dir, Kind: Dir, Mode: 0o755, Why: "parent directory of " + p, From: p}
		}
	}
	c := &Closure{Entries: make([]Entry, 0, len(all)), Warnings: r.warnings}
	for _, e := range all {
		c.Entries = append(c.Entries, *e)
	}
	sort.Slice(c.Entries, func(i, j int) bool { return c.Entries[i].Path < c.Entries[j].Path })
	sort.Strings(c.Warnings)
	return c
}

// checkNames reports every entry whose path the kernel cannot create.
func (r *resolver) checkNames() {
	for _, m := range []map[string]*Entry{r.entries, r.explicit} {
		for p, e := range m {
			if err := checkLength(p); err != nil {
				r.errs = append(r.errs, fmt.Errorf("%s (%s): %w", p, e.Why, err))
			}
		}
	}
}

func checkLength(p string) error {
	if len(p) > MaxPath {
		return fmt.Errorf("path of %d bytes is longer than PATH_MAX (%d)", len(p), MaxPath)
	}
	for _, name := range strings.Split(p, "/") {
		if len(name) > MaxName {
			return fmt.Errorf("name %.20q... of %d bytes is longer than NAME_MAX (%d)", name, len(name), MaxName)
		}
	}
	return nil
}
