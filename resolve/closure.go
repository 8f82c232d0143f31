// Package resolve turns a manifest into the closure of an initrd: every
// path to archive, where its content comes from, and why it is there.
//
// It follows ELF dependencies (package elfdeps), symlink chains, shebang
// interpreters, store-path references and systemd units (package units),
// reading the source tree only through a root-confined rootfs.FS.
package resolve

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// requestKey identifies a request for deduplication. Most requests differ
// from each other only in path and flags, so the rest is folded into one
// string that is empty, and costs nothing, for them: a 50,000-file tree
// makes that many keys.
type requestKey struct {
	path, variant string
	flags         uint8
}

func (q *request) key() requestKey {
	k := requestKey{path: q.path}
	if q.program {
		k.flags |= 1
	}
	if q.recurse {
		k.flags |= 2
	}
	if q.target != "" || q.dlopen.Priority != "" || len(q.dlopen.Features) > 0 {
		k.variant = q.target + "\x00" + q.dlopen.Priority + "\x00" + strings.Join(q.dlopen.Features, ",")
	}
	return k
}

// compareRequests orders requests by path, target, flags and dlopen
// policy, so that a round is handled and merged in an order that does not
// depend on the manifest's.
func compareRequests(a, b *request) int {
	if c := cmp.Compare(a.path, b.path); c != 0 {
		return c
	}
	if c := cmp.Compare(a.target, b.target); c != 0 {
		return c
	}
	if c := compareBool(a.program, b.program); c != 0 {
		return c
	}
	if c := compareBool(a.recurse, b.recurse); c != 0 {
		return c
	}
	if c := cmp.Compare(a.dlopen.Priority, b.dlopen.Priority); c != 0 {
		return c
	}
	return slices.Compare(a.dlopen.Features, b.dlopen.Features)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
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
	// found holds the derived entries, the first one found for each path
	// (the paths in have), in the order found: values in one slice rather
	// than a map of pointers, so the closure is sorted in place.
	found []Entry
	have  map[string]struct{}
	seen  map[requestKey]struct{} // the requests handled
	// known holds, by real path, files that units or kmod have read or
	// identified already, so that analyse does not open them again.
	known    map[string]knownFile
	warnings []string
	errs     []error
}

// knownFile is what another package found of a file: its content, or that
// there is nothing to look for in it.
type knownFile struct {
	data []byte
	// opaque marks a kernel module or firmware: it loads no libraries
	// and runs no interpreter, and is not worth scanning.
	opaque bool
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
		have:     map[string]struct{}{},
		known:    map[string]knownFile{},
		seen:     map[requestKey]struct{}{},
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

// batchSize is how many requests of a round are analysed before their
// outcomes are merged: it bounds the outcomes held at once when a round is
// a large directory tree, and leaves the workers idle only at its end.
const batchSize = 1024

// run handles requests round by round: each round's requests are
// analysed concurrently, batch by batch, then merged in a fixed order, so
// the result never depends on scheduling or on the manifest's order.
func (r *resolver) run(queue []request) {
	for len(queue) > 0 {
		round := r.dedup(queue)
		queue = nil
		// Room for the round's entries, about one per request, and
		// for a few more (links met on the way, parent directories):
		// growing found one append at a time would copy it, and hold
		// both copies, many times over in a large tree's round.
		r.found = slices.Grow(r.found, len(round)+len(round)/16)
		for len(round) > 0 {
			n := min(batchSize, len(round))
			queue = r.runBatch(round[:n], queue)
			clear(round[:n]) // let what the handled requests hold go
			round = round[n:]
		}
	}
}

// runBatch handles a batch of requests concurrently, merges their outcomes
// in order and appends the requests they make to next.
func (r *resolver) runBatch(batch, next []request) []request {
	outs := make([]outcome, len(batch))
	// Jobs workers take the requests in turn: one goroutine per request
	// cost as much scheduling as a small file's analysis.
	var taken atomic.Int64
	var wg sync.WaitGroup
	for range min(r.opts.Jobs, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(taken.Add(1) - 1); i < len(batch); i = int(taken.Add(1) - 1) {
				outs[i] = r.handle(&batch[i])
			}
		}()
	}
	wg.Wait()
	for i := range outs {
		for j := range outs[i].entries {
			r.add(&outs[i].entries[j])
		}
		r.warnings = append(r.warnings, outs[i].warnings...)
		r.errs = append(r.errs, outs[i].errs...)
		next = append(next, outs[i].next...)
	}
	return next
}

// dedup drops requests handled before, in place, and sorts the rest.
func (r *resolver) dedup(queue []request) []request {
	fresh := queue[:0]
	for _, q := range queue {
		k := q.key()
		if _, ok := r.seen[k]; !ok {
			r.seen[k] = struct{}{}
			fresh = append(fresh, q)
		}
	}
	clear(queue[len(fresh):])
	slices.SortFunc(fresh, func(a, b request) int { return compareRequests(&a, &b) })
	return fresh
}

// add records a derived entry; the manifest's own entries win.
func (r *resolver) add(e *Entry) {
	if x, ok := r.explicit[e.Path]; ok {
		if x.Kind != e.Kind && !(x.Source != "" && x.Source == e.Source) {
			r.warnings = append(r.warnings, fmt.Sprintf("%s: the manifest's %s replaces the %s found in the root (%s)", e.Path, x.Kind, e.Kind, e.Why))
		}
		return
	}
	if _, ok := r.have[e.Path]; ok {
		return
	}
	r.have[e.Path] = struct{}{}
	r.found = append(r.found, *e)
}

// handle analyses one request. It only reads the tree, so requests run
// concurrently.
func (r *resolver) handle(q *request) outcome {
	var o outcome
	final, links, fi, err := r.resolveStat(q.path)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", q.path, q.why, unwrapPath(err)))
		return o
	}
	why, from := q.why, q.from
	if q.target == "" {
		why, from = r.linkEntries(&o, links, q)
	}
	if fi == nil {
		fi, err = r.fs.Lstat(final)
	}
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
	o.next = slices.Grow(o.next, len(children))
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

// closure sorts the entries and adds the missing parent directories. It
// reuses found's storage and drops the resolver's indexes first, so the
// sorted closure is the only copy of the entries.
func (r *resolver) closure() *Closure {
	entries, have := r.found, r.have
	r.found, r.have, r.seen = nil, nil, nil
	for p, e := range r.explicit {
		entries = append(entries, *e)
		have[p] = struct{}{}
	}
	byPath := func(a, b Entry) int { return cmp.Compare(a.Path, b.Path) }
	slices.SortFunc(entries, byPath)
	// In path order, a missing directory is named after the first path
	// below it, whatever order the entries were found in.
	for i, n := 0, len(entries); i < n; i++ {
		p := entries[i].Path
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := have[dir]; ok {
				break
			}
			have[dir] = struct{}{}
			entries = append(entries, Entry{Path: dir, Kind: Dir, Mode: 0o755, Why: "parent directory of " + p, From: p})
		}
	}
	slices.SortFunc(entries, byPath)
	sort.Strings(r.warnings)
	return &Closure{Entries: entries, Warnings: r.warnings}
}

// checkNames reports every entry whose path the kernel cannot create.
func (r *resolver) checkNames() {
	check := func(e *Entry) {
		if err := checkLength(e.Path); err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s (%s): %w", e.Path, e.Why, err))
		}
	}
	for i := range r.found {
		check(&r.found[i])
	}
	for _, e := range r.explicit {
		check(e)
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
