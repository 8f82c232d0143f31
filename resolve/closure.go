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

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
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
	// keepLink makes a symlink at path a symlink at target with the same
	// text, rather than target a copy of what it points to: a member of a
	// directory copied to another path is copied as it is.
	keepLink bool
	// copyTop is the target of the directory copy a keepLink request
	// belongs to: a member symlink that points inside it needs nothing
	// more.
	copyTop string
	// link names the symlink this request follows: a path that does not
	// exist leaves that symlink dangling, which is a warning, not an error.
	link   string
	dlopen elfdeps.DlopenPolicy
	// override holds the manifest's mode, uid and gid, if any.
	override *Content
}

// key identifies a request for deduplication in handled. Most requests
// differ from each other only in path and flags, so the rest is folded
// into one variant string that is empty, and costs nothing, for them.
func (q *request) key(handled *hashSet) [2]uint64 {
	var flags byte
	if q.program {
		flags |= 1
	}
	if q.recurse {
		flags |= 2
	}
	if q.keepLink {
		flags |= 4
	}
	var variant string
	if q.target != "" || q.dlopen.Priority != elfdeps.PriorityNone || len(q.dlopen.Features) > 0 {
		variant = q.target + "\x00" + q.copyTop + "\x00" + q.dlopen.Priority.String() + "\x00" + strings.Join(q.dlopen.Features, ",")
	}
	return handled.key(q.path, variant, flags)
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
	if c := compareBool(a.keepLink, b.keepLink); c != 0 {
		return c
	}
	if c := cmp.Compare(a.copyTop, b.copyTop); c != 0 {
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
	groups   []dirGroup
	warnings []string
	errs     []error
	deferred []*elfdeps.MissingError // see resolver.settle
}

// dirGroup asks for the children of a directory copied whole. They are
// held as names until their round comes, rather than as a request each,
// so that a large tree's requests cost a name each.
type dirGroup struct {
	child request // what each child's request has but its path and target
	dir   string  // the directory's path in the root
	dest  string  // where it goes
	names []string
}

// request returns the request for the child called name.
func (g *dirGroup) request(name string) request {
	q := g.child
	q.path = path.Join(g.dir, name)
	if q.target != "" {
		q.target = path.Join(g.dest, name)
	}
	return q
}

func compareGroups(a, b *dirGroup) int {
	if c := cmp.Compare(a.dir, b.dir); c != 0 {
		return c
	}
	if c := cmp.Compare(a.dest, b.dest); c != 0 {
		return c
	}
	return compareRequests(&a.child, &b.child)
}

func (o *outcome) warnf(format string, args ...any) {
	o.warnings = append(o.warnings, fmt.Sprintf(format, args...))
}

// resolver holds the state of one resolution.
type resolver struct {
	fs       *rootfs.FS
	m        *Manifest
	opts     Options
	loader   *elfdeps.Loader
	store    *storeScanner
	stores   []string          // the manifest's store directories that exist
	heads    sync.Pool         // 4 KiB buffers for the first bytes of each file
	dirs     sync.Map          // directory path -> *resolvedDir
	explicit map[string]*Entry // from the manifest: they win
	// derived holds the entries found in the root, the first one for
	// each path, packed in sorted runs.
	derived    sortedRuns
	entryPaths *hashSet // paths of derived and explicit entries
	handled    *hashSet // the requests handled
	// alreadyRead holds, by real path, files that units or kmod have
	// read or identified, so that analyse does not open them again.
	alreadyRead map[string]knownFile
	warnings    []string
	errs        []error
	// deferred holds the misses of libraries resolved alone, decided
	// once every program is resolved (settle); notes holds what that
	// adds to the reasons of entries, by path.
	deferred []*elfdeps.MissingError
	notes    map[string][]string
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
	pc, err := ResolvePacked(m, fsys, opts)
	if err != nil {
		return nil, err
	}
	return &Closure{Entries: pc.Entries.Unpack(), Warnings: pc.Warnings}, nil
}

// ResolvePacked is Resolve for a closure that may be large: its entries
// stay packed from the moment they are found, so a large tree is never
// held as a []Entry.
func ResolvePacked(m *Manifest, fsys *rootfs.FS, opts Options) (*PackedClosure, error) {
	m, err := m.Expand(fsys)
	if err != nil {
		return nil, err
	}
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
	stores := existingDirs(fsys, m.storeDirs())
	loader.SetStoreDirs(stores)
	r := &resolver{
		fs: fsys, m: m, opts: opts, loader: loader,
		stores:      stores,
		explicit:    map[string]*Entry{},
		entryPaths:  newHashSet(),
		alreadyRead: map[string]knownFile{},
		notes:       map[string][]string{},
		handled:     newHashSet(),
	}
	r.store = newStoreScanner(r.stores)
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
	r.settle()
	for _, e := range r.explicit {
		r.checkName(e)
	}
	if len(r.errs) > 0 {
		return nil, joinSorted(r.errs)
	}
	return r.closure()
}

// batchSize is how many requests of a round are analysed before their
// outcomes are merged: it bounds the outcomes held at once when a round is
// a large directory tree, and leaves the workers idle only at its end.
const batchSize = 1024

// run handles requests round by round: each round's requests are
// analysed concurrently, batch by batch, then merged in a fixed order, so
// the result never depends on scheduling or on the manifest's order. A
// round's single requests come first, in order, then the children of the
// directories the round before copied whole, directory by directory.
func (r *resolver) run(queue []request) {
	var groups []dirGroup
	for len(queue) > 0 || len(groups) > 0 {
		round, roundGroups := r.dedup(queue), groups
		queue, groups = nil, nil
		for len(round) > 0 {
			n := min(batchSize, len(round))
			queue, groups = r.runBatch(round[:n], queue, groups)
			clear(round[:n]) // let what the handled requests hold go
			round = round[n:]
		}
		slices.SortFunc(roundGroups, func(a, b dirGroup) int { return compareGroups(&a, &b) })
		batch := make([]request, 0, batchSize)
		for i := range roundGroups {
			g := &roundGroups[i]
			for _, name := range g.names {
				q := g.request(name)
				if !r.handled.add(q.key(r.handled)) {
					continue
				}
				if batch = append(batch, q); len(batch) == batchSize {
					queue, groups = r.runBatch(batch, queue, groups)
					batch = batch[:0]
				}
			}
			roundGroups[i] = dirGroup{} // its names are requests now
		}
		if len(batch) > 0 {
			queue, groups = r.runBatch(batch, queue, groups)
		}
	}
}

// runBatch handles a batch of requests concurrently, merges their outcomes
// in order and appends the requests they make to next and groups.
func (r *resolver) runBatch(batch, next []request, groups []dirGroup) ([]request, []dirGroup) {
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
		r.deferred = append(r.deferred, outs[i].deferred...)
		next = append(next, outs[i].next...)
		groups = append(groups, outs[i].groups...)
	}
	return next, groups
}

// dedup drops requests handled before, in place, and sorts the rest.
func (r *resolver) dedup(queue []request) []request {
	fresh := queue[:0]
	for _, q := range queue {
		if r.handled.add(q.key(r.handled)) {
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
	if !r.entryPaths.add(r.entryPaths.key(e.Path, "", 0)) {
		return
	}
	r.checkName(e)
	r.derived.add(e)
}

// handle analyses one request. It only reads the tree, so requests run
// concurrently.
func (r *resolver) handle(q *request) outcome {
	var o outcome
	final, links, fi, err := r.resolveStat(q.path)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", q.path, q.why, rootfs.Cause(err)))
		return o
	}
	if q.keepLink && len(links) > 0 && links[0].Path == rootfs.Clean(q.path) {
		r.memberLink(&o, q, links[0].Target)
		return o
	}
	if kept, dest, ok := cutAtRuntime(links); ok {
		r.runtimeLink(&o, q, kept, dest)
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
		if errors.Is(err, fs.ErrNotExist) && q.target == "" && (len(links) > 0 || q.link != "") {
			dangling := q.link
			if len(links) > 0 {
				dangling = links[len(links)-1].Path
			}
			o.warnf("%s: dangling symlink to %s kept (%s)", dangling, final, q.why)
			return o
		}
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", q.path, q.why, rootfs.Cause(err)))
		return o
	}
	dest := final
	if q.target != "" {
		dest = q.target
	}
	switch {
	case fi.IsDir():
		r.dirEntry(&o, q, dest, fi, why, from, final)
	case fi.Mode().IsRegular() && fi.Size() > cpiogen.MaxSize:
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %d bytes is too large for a newc archive (the limit is 4 GiB - 1)", final, q.why, fi.Size()))
	case fi.Mode().IsRegular():
		e := fileEntry(dest, final, fi, why, from)
		applyOverride(&e, q.override)
		i := len(o.entries)
		o.entries = append(o.entries, e)
		o.entries[i].Machine = r.analyse(&o, q, final, fi)
		r.wrapped(&o, final, fi)
	default:
		o.errs = append(o.errs, fmt.Errorf("%s (%s): is a %s, not a regular file, directory or symlink: give it as a \"type\" entry", final, q.why, rootfs.TypeName(fi.Mode())))
	}
	return o
}

// memberLink copies a symlink that is a member of a directory copied to
// another path: the link keeps its text at its new place, and what it
// points to there is followed. A target inside the copy is there already;
// one outside it, or reached by an absolute text, is the root's path of
// that name, copied to its own path like any other symlink's target.
func (r *resolver) memberLink(o *outcome, q *request, text string) {
	o.entries = append(o.entries, Entry{Path: q.target, Kind: Symlink, LinkTarget: text, Mode: 0o777, Why: q.why, From: q.from})
	dest := linkDest(q.target, text)
	if isRuntimePath(dest) || within(dest, q.copyTop) {
		return
	}
	o.next = append(o.next, request{path: dest, why: "target of symlink " + q.target, from: q.target,
		program: true, recurse: q.recurse, dlopen: q.dlopen, link: q.target})
}

// runtimeLink keeps the symlinks that lead into a directory the booted
// system mounts (a masked unit's /dev/null) as symlinks, and follows them
// no further: nothing at that path in the root belongs in the image.
// A request copied to another path becomes a symlink there to the same
// place.
func (r *resolver) runtimeLink(o *outcome, q *request, links []rootfs.Link, dest string) {
	kept := " (kept as a link: " + dest + " is provided at boot)"
	if q.target != "" {
		o.entries = append(o.entries, Entry{Path: q.target, Kind: Symlink, LinkTarget: dest, Mode: 0o777, Why: q.why + kept, From: q.from})
		return
	}
	r.linkEntries(o, links, q)
	last := &o.entries[len(o.entries)-1]
	last.Why += kept
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
	if m, _ := parseMode(r.m.DirMode); m != nil {
		e.Mode = modeFromUnix(*m)
	}
	applyOverride(&e, q.override)
	o.entries = append(o.entries, e)
	if !q.recurse {
		return
	}
	children, err := r.fs.ReadDir(final)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", final, q.why, rootfs.Cause(err)))
		return
	}
	g := dirGroup{dir: final, dest: dest, names: make([]string, 0, len(children)),
		child: request{why: "in directory " + dest, from: dest, program: true, recurse: true,
			dlopen: q.dlopen, target: q.target}}
	if q.target != "" {
		g.child.keepLink, g.child.copyTop = true, q.copyTop
		if g.child.copyTop == "" {
			g.child.copyTop = dest
		}
	}
	for _, c := range children {
		g.names = append(g.names, c.Name())
	}
	o.groups = append(o.groups, g)
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

// joinSorted joins errs sorted by their text, each text once, so that a
// run reports every problem in an order that does not depend on
// scheduling. The errors themselves are kept: errors.Is and errors.As see
// through the join.
func joinSorted(errs []error) error {
	sorted := slices.Clone(errs)
	slices.SortStableFunc(sorted, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
	sorted = slices.CompactFunc(sorted, func(a, b error) bool { return a.Error() == b.Error() })
	return errors.Join(sorted...)
}

// closure merges the entries in path order and adds the missing parent
// directories. In path order, a missing directory is named after the
// first path below it, whatever order the entries were found in. An entry
// below one that is not a directory is an error: no archive can hold both.
func (r *resolver) closure() (*PackedClosure, error) {
	explicit := make([]Entry, 0, len(r.explicit))
	for p, e := range r.explicit {
		explicit = append(explicit, *e)
		r.entryPaths.add(r.entryPaths.key(p, "", 0))
	}
	slices.SortFunc(explicit, func(a, b Entry) int { return cmp.Compare(a.Path, b.Path) })
	r.derived.addRun(Pack(explicit))
	var parents []Entry
	var above nonDirs
	r.derived.merged(func(e *Entry) {
		if x := above.check(e); x != nil {
			r.errs = append(r.errs, fmt.Errorf("%s (%s) lies below %s, a %s (%s): no archive can hold both", e.Path, e.Why, x.path, x.kind, x.why))
		}
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			if !r.entryPaths.add(r.entryPaths.key(dir, "", 0)) {
				break
			}
			parents = append(parents, Entry{Path: dir, Kind: Dir, Mode: 0o755, Why: "parent directory of " + e.Path, From: e.Path})
		}
	})
	if len(r.errs) > 0 {
		return nil, joinSorted(r.errs)
	}
	slices.SortFunc(parents, func(a, b Entry) int { return cmp.Compare(a.Path, b.Path) })
	r.derived.addRun(Pack(parents))
	var all Packer
	r.derived.merged(func(e *Entry) {
		if notes := r.notes[e.Path]; len(notes) > 0 {
			slices.Sort(notes)
			e.Why += "; " + strings.Join(slices.Compact(notes), "; ")
		}
		all.Add(e)
	})
	r.derived, r.entryPaths, r.handled = sortedRuns{}, nil, nil
	sort.Strings(r.warnings)
	return &PackedClosure{Entries: all.Packed(), Warnings: r.warnings}, nil
}

// nonDirs holds, while entries are visited in path order, the entries
// that are not directories and that a later path may still lie below.
// Paths sort byte by byte, so "/a-b" comes between "/a" and "/a/b": an
// entry X is dropped only once a path past every "X/..." is met, and the
// stack stays as deep as such chains of names, not as the tree is wide.
type nonDirs []nonDir

type nonDir struct{ path, kind, why string }

// check returns the entry that e lies below, if any, and records e if it
// is not a directory.
func (s *nonDirs) check(e *Entry) *nonDir {
	for len(*s) > 0 {
		top := (*s)[len(*s)-1]
		if strings.HasPrefix(e.Path, top.path+"/") {
			return &top
		}
		if e.Path < top.path+"/" {
			break
		}
		*s = (*s)[:len(*s)-1]
	}
	if e.Kind != Dir {
		*s = append(*s, nonDir{e.Path, e.Kind.String(), e.Why})
	}
	return nil
}

// checkName reports an entry whose path the kernel cannot create.
func (r *resolver) checkName(e *Entry) {
	if err := checkLength(e.Path); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s (%s): %w", e.Path, e.Why, err))
	}
}

func checkLength(p string) error {
	if len(p) >= cpiogen.PathMax { // PATH_MAX counts the terminating NUL
		return fmt.Errorf("path of %d bytes is longer than PATH_MAX (%d)", len(p), cpiogen.PathMax-1)
	}
	for _, name := range strings.Split(p, "/") {
		if len(name) > cpiogen.NameMax {
			return fmt.Errorf("name %.20q... of %d bytes is longer than NAME_MAX (%d)", name, len(name), cpiogen.NameMax)
		}
	}
	return nil
}
