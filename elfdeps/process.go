package elfdeps

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Reason says why an object is part of a process.
type Reason uint8

// The reasons an object is loaded.
const (
	ReasonProgram     Reason = iota // the file Process was asked about
	ReasonInterpreter               // PT_INTERP
	ReasonNeeded                    // DT_NEEDED or DT_FILTER
	ReasonAuxiliary                 // DT_AUXILIARY: a filtee loaded if found
	ReasonDlopen                    // selected from a .note.dlopen entry
)

var reasonNames = [...]string{"program", "interpreter", "needed", "auxiliary", "dlopen note"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// DlopenPolicy selects the .note.dlopen entries whose libraries are added
// to a process. Priority is a threshold: PriorityNone includes none,
// PriorityRequired the required entries, PriorityRecommended also the
// recommended ones (and those without a priority), PrioritySuggested all.
// An entry whose feature is listed in Features is included whatever its
// priority.
type DlopenPolicy struct {
	Priority Priority
	Features []string
}

func (p DlopenPolicy) validate() error {
	if p.Priority > PrioritySuggested {
		return fmt.Errorf("dlopen policy: %v is no threshold", p.Priority)
	}
	return nil
}

// selects reports whether the policy includes e, and whether failing to
// find it is an error (a required entry, or a feature asked for by name)
// rather than a warning.
func (p DlopenPolicy) selects(e DlopenNote) (include, mandatory bool) {
	listed := e.Feature != "" && slices.Contains(p.Features, e.Feature)
	byPriority := p.Priority != PriorityNone && e.Priority <= p.Priority
	return listed || byPriority, listed || e.Priority == PriorityRequired
}

// Object is one file a process loads.
type Object struct {
	// Path is where the object was found, as ld.so would open it (for
	// example /lib/x86_64-linux-gnu/libc.so.6); symlinks in it are not
	// resolved, so the caller can copy them too.
	Path string
	// Name is the string that asked for it: the DT_NEEDED entry, the
	// dlopen soname, the PT_INTERP path; "" for the program.
	Name string
	// Soname is the object's DT_SONAME.
	Soname string
	// NeededBy is the Path of the object that asked for it, "" for the
	// program itself.
	NeededBy string
	Reason   Reason
	// Feature is the dlopen note's feature, for ReasonDlopen.
	Feature string
}

// MissingError is a library a process needs that cannot be found.
type MissingError struct {
	Soname       string   // the name asked for (the first alternative of a dlopen entry)
	Alternatives []string // the other sonames of a dlopen entry, all missing too
	Reason       Reason
	Feature      string   // for ReasonDlopen
	Priority     Priority // for ReasonDlopen
	// Chain is the path of each object from the program to the one that
	// asked: program -> libA -> libB.
	Chain []string
	// Searched lists the directories tried, in order (for a name with a
	// slash, the path itself).
	Searched []string
	// Skipped lists candidates found but rejected, with why.
	Skipped []string
	// Optional is true when the loss is only worth a warning: a dlopen
	// entry that is neither required nor asked for by feature, or a
	// DT_AUXILIARY filtee.
	Optional bool
	// Store is the store directory whose loader rules the program
	// follows, "" for a host program (see Loader.SetStoreDirs).
	Store string
}

func (e *MissingError) Error() string {
	var b strings.Builder
	b.WriteString(e.Soname)
	for _, a := range e.Alternatives {
		b.WriteString(" or " + a)
	}
	b.WriteString(": not found")
	switch e.Reason {
	case ReasonDlopen:
		fmt.Fprintf(&b, ", dlopen note (priority %s", e.Priority)
		if e.Feature != "" {
			fmt.Fprintf(&b, ", feature %q", e.Feature)
		}
		b.WriteString(") of ")
	case ReasonInterpreter:
		b.WriteString(", interpreter of ")
	case ReasonAuxiliary:
		b.WriteString(", auxiliary filtee of ")
	default:
		b.WriteString(", needed by ")
	}
	b.WriteString(strings.Join(e.Chain, " -> "))
	if len(e.Searched) > 0 {
		b.WriteString(" (searched " + strings.Join(e.Searched, ", "))
		if len(e.Skipped) > 0 {
			b.WriteString("; skipped " + strings.Join(e.Skipped, ", "))
		}
		b.WriteString(")")
	}
	if e.Store != "" {
		b.WriteString("; a program of " + e.Store + " is loaded by its store's interpreter, which searches no host directory")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, fs.ErrNotExist) true.
func (e *MissingError) Unwrap() error { return fs.ErrNotExist }

// ProcessError gathers every problem found while resolving one program:
// *MissingError values and errors about files that could not be parsed,
// in the order met. errors.As reaches each of them.
type ProcessError struct {
	Path string
	Errs []error
}

func (e *ProcessError) Error() string {
	if len(e.Errs) == 1 {
		return e.Path + ": " + e.Errs[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", e.Path, len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n\t" + err.Error())
	}
	return b.String()
}

// Unwrap returns the gathered errors.
func (e *ProcessError) Unwrap() []error { return e.Errs }

// obj is an object loaded in a process, ld.so's link_map.
type obj struct {
	path   string
	name   string
	file   *File
	id     fileID
	loader *obj // the object whose dependency or note loaded this one
	reason Reason
	feat   string

	origin            string
	originDone        bool
	rpath, runpath    []string
	rpathDone, rpDone bool
}

// process is one program being resolved.
type process struct {
	l      *Loader
	arch   *archInfo
	key    archKey
	policy DlopenPolicy
	// confDirs and defaults are the directories searched after RUNPATH:
	// the tree's ld.so.conf and the target's defaults for a host
	// program, the interpreter's own directory for a store program.
	confDirs, defaults []string
	store              string
	objs               []*obj
	names              map[string]*obj // names an object was loaded by, its path and soname
	ids                map[fileID]*obj
	errs               []error
	next               int // first object whose dependencies are not loaded yet
}

// Process lists what the program at p loads, the way glibc's ld.so
// would inside the tree: the program itself, its interpreter, the
// DT_NEEDED closure loaded breadth-first, then the libraries of the
// .note.dlopen entries that policy selects (looked up in the context of the
// object carrying the note, their own dependencies loaded the same way).
// Objects come in load order, which depends only on the files.
//
// The objects found are returned even when err is not nil. Err is a
// *ProcessError listing every library that was not found (*MissingError,
// some marked Optional) and every file met that could not be parsed; when
// all its entries are Optional misses it is worth warnings only. A program
// that is not ELF gives an error wrapping ErrNotELF.
//
// Target-dependent values: $PLATFORM is x86_64, i686 or aarch64 (other
// targets have a CPU-dependent value, and elements using it are dropped);
// $LIB is "lib/<triplet>" in a tree with a /lib/<triplet> directory (as
// Debian's glibc sets it), else "lib64" for 64-bit and "lib" for 32-bit
// targets. The default directories are /lib/<triplet>, /usr/lib/<triplet>,
// /lib64 and /usr/lib64 (64-bit only), /lib, /usr/lib: the union of the
// Debian and Fedora layouts, so that nothing ld.so finds is missed. A
// program whose interpreter lies in a store directory (SetStoreDirs)
// searches instead, after RPATH and RUNPATH, only its interpreter's
// directory, as the store's ld.so does; a library in a store resolved alone
// searches only its RPATH and RUNPATH. A miss then says so (MissingError.Store).
//
// Differences from ld.so, all deliberate: no LD_LIBRARY_PATH, no
// ld.so.cache (the ld.so.conf directories it is built from are searched in
// order), no glibc-hwcaps or legacy hwcap subdirectories; relative search
// directories and names are taken relative to "/" (the initrd's working
// directory) rather than the build's; a candidate that is not ELF, or has
// another OS ABI or is not ET_DYN, is skipped where ld.so would stop with
// an error. $ORIGIN is the directory of the program with all symlinks
// resolved (glibc uses realpath of /proc/self/exe) and, for a library, the
// directory it was found in with that directory's symlinks resolved (glibc
// uses the directory as written, and the kernel resolves it when the path
// is opened, which comes to the same for "$ORIGIN/../lib").
func (l *Loader) Process(p string, policy DlopenPolicy) ([]Object, error) {
	if err := policy.validate(); err != nil {
		return nil, err
	}
	p = rootfs.Clean(p)
	fe, err := l.open(p, nil)
	if err != nil {
		return nil, err
	}
	if fe.err != nil {
		return nil, fmt.Errorf("%s: %w", p, fe.err)
	}
	f := fe.file
	pr := &process{
		l:      l,
		key:    archKey{f.Class, f.Data, f.Machine},
		policy: policy,
		names:  make(map[string]*obj),
		ids:    make(map[fileID]*obj),
	}
	pr.arch = l.arch(pr.key)
	pr.searchDirs(p, f)
	root := &obj{path: p, file: f, id: fe.id, reason: ReasonProgram}
	pr.add(root, "")
	if f.Interp != "" {
		pr.interp(root, f.Interp)
	}
	pr.loadDeps()
	if policy.Priority != PriorityNone || len(policy.Features) > 0 {
		// Notes of objects loaded by a dlopen are read too, since the loop
		// runs to the end of the growing list.
		for i := 0; i < len(pr.objs); i++ {
			o := pr.objs[i]
			for _, e := range o.file.Dlopen {
				if include, mandatory := policy.selects(e); include {
					pr.dlopen(o, e, mandatory)
					pr.loadDeps()
				}
			}
		}
	}
	l.record(pr, p)
	objs := make([]Object, len(pr.objs))
	for i, o := range pr.objs {
		objs[i] = Object{Path: o.path, Name: o.name, Soname: o.file.Soname, Reason: o.reason, Feature: o.feat}
		if o.loader != nil {
			objs[i].NeededBy = o.loader.path
		}
	}
	if len(pr.errs) > 0 {
		return objs, &ProcessError{Path: p, Errs: pr.errs}
	}
	return objs, nil
}

// searchDirs sets the directories searched after RUNPATH for the program
// f at p. A program whose interpreter lies in a store is run by that
// store's ld.so, built to search its own directory and nothing of the
// host; a library in a store, resolved alone, searches only its own
// RPATH and RUNPATH.
func (pr *process) searchDirs(p string, f *File) {
	pr.confDirs, pr.defaults = pr.l.confDirs, pr.arch.defaults
	switch {
	case f.Interp != "":
		pr.store = pr.l.inStore(rootfs.Clean(f.Interp))
	default:
		pr.store = pr.l.inStore(p)
	}
	if pr.store == "" {
		return
	}
	pr.confDirs, pr.defaults = nil, nil
	if f.Interp != "" {
		pr.defaults = []string{pr.l.realDir(path.Dir(rootfs.Clean(f.Interp)))}
	}
}

// add records a newly loaded object under the names ld.so matches later
// requests against: the name it was asked by, the path it was opened as,
// and its soname.
func (pr *process) add(o *obj, name string) {
	pr.objs = append(pr.objs, o)
	pr.ids[o.id] = o
	if o.reason != ReasonProgram {
		pr.alias(o, o.path)
	}
	pr.alias(o, name)
	pr.alias(o, o.file.Soname)
}

func (pr *process) alias(o *obj, name string) {
	if _, ok := pr.names[name]; name != "" && !ok {
		pr.names[name] = o
	}
}

// loadDeps loads the dependencies of every object not handled yet,
// breadth-first, in DT_NEEDED order, as _dl_map_object_deps does.
func (pr *process) loadDeps() {
	for ; pr.next < len(pr.objs); pr.next++ {
		o := pr.objs[pr.next]
		for _, n := range o.file.Needed {
			pr.need(o, n, ReasonNeeded)
		}
		for _, n := range o.file.Filter {
			pr.need(o, n, ReasonNeeded)
		}
		for _, n := range o.file.Auxiliary {
			pr.need(o, n, ReasonAuxiliary)
		}
	}
}

func (pr *process) need(from *obj, name string, reason Reason) {
	if _, ok := pr.names[name]; ok {
		return
	}
	res := pr.findAs(from, name, reason, "")
	if res.err != nil {
		pr.errs = append(pr.errs, res.err)
		return
	}
	if res.o != nil {
		return
	}
	pr.errs = append(pr.errs, &MissingError{
		Soname:   name,
		Reason:   reason,
		Chain:    pr.chain(from),
		Searched: res.searched,
		Skipped:  res.skipped,
		Optional: reason == ReasonAuxiliary,
		Store:    pr.store,
	})
}

func (pr *process) dlopen(from *obj, e DlopenNote, mandatory bool) {
	var searched, skipped []string
	for _, name := range e.Soname {
		if _, ok := pr.names[name]; ok {
			return
		}
		res := pr.findAs(from, name, ReasonDlopen, e.Feature)
		if res.err != nil {
			pr.errs = append(pr.errs, res.err)
			return
		}
		if res.o != nil {
			return
		}
		searched = appendNew(searched, res.searched...)
		skipped = append(skipped, res.skipped...)
	}
	pr.errs = append(pr.errs, &MissingError{
		Soname:       e.Soname[0],
		Alternatives: e.Soname[1:],
		Reason:       ReasonDlopen,
		Feature:      e.Feature,
		Priority:     e.Priority,
		Chain:        pr.chain(from),
		Searched:     searched,
		Skipped:      skipped,
		Optional:     !mandatory,
		Store:        pr.store,
	})
}

func (pr *process) interp(root *obj, p string) {
	miss := &MissingError{Soname: p, Reason: ReasonInterpreter, Chain: []string{root.path}, Searched: []string{p}}
	fe, err := pr.l.open(p, nil)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			miss.Skipped = []string{fmt.Sprintf("%s: %v", p, err)}
		}
		pr.errs = append(pr.errs, miss)
		return
	}
	if fe.err != nil {
		pr.errs = append(pr.errs, fmt.Errorf("interpreter of %s: %s: %w", root.path, p, fe.err))
		return
	}
	if why := pr.mismatch(fe.file); why != "" {
		pr.errs = append(pr.errs, fmt.Errorf("interpreter of %s: %s: %s", root.path, p, why))
		return
	}
	if o := pr.ids[fe.id]; o != nil {
		pr.alias(o, p)
		return
	}
	pr.add(&obj{path: p, name: p, file: fe.file, id: fe.id, loader: root, reason: ReasonInterpreter}, p)
}

type findResult struct {
	o        *obj // nil if not found
	searched []string
	skipped  []string
	err      error // a candidate that could not be parsed
}

func (pr *process) find(from *obj, name string) findResult {
	return pr.findAs(from, name, ReasonNeeded, "")
}

// findAs looks name up for the object from, as _dl_map_object does, and
// loads what it finds.
func (pr *process) findAs(from *obj, name string, reason Reason, feat string) findResult {
	var res findResult
	var dirs []string
	if strings.Contains(name, "/") {
		p, ok := expandDST(name, pr.originOf(from), pr.arch)
		if !ok {
			return res
		}
		p = rootfs.Clean(p)
		res.searched = []string{p}
		pr.try(from, name, p, reason, feat, &res)
		return res
	}
	dirs = pr.searchPath(from)
	res.searched = dirs
	for _, dir := range dirs {
		if pr.try(from, name, path.Join(dir, name), reason, feat, &res) {
			break
		}
	}
	return res
}

// try examines one candidate and reports whether the search is over
// (found, or stopped by a file that cannot be parsed).
func (pr *process) try(from *obj, name, p string, reason Reason, feat string, res *findResult) bool {
	fe, err := pr.l.open(p, nil)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			res.skipped = append(res.skipped, fmt.Sprintf("%s (%v)", p, rootfs.Cause(err)))
		}
		return false
	}
	if fe.err != nil {
		if errors.Is(fe.err, ErrNotELF) {
			res.skipped = append(res.skipped, p+" (not ELF)")
			return false
		}
		res.err = fmt.Errorf("%s, wanted as %s by %s: %w", p, name, strings.Join(pr.chain(from), " -> "), fe.err)
		return true
	}
	if why := pr.mismatch(fe.file); why != "" {
		res.skipped = append(res.skipped, p+" ("+why+")")
		return false
	}
	if fe.file.Type != elf.ET_DYN {
		res.skipped = append(res.skipped, fmt.Sprintf("%s (%s, not a shared object)", p, fe.file.Type))
		return false
	}
	if o := pr.ids[fe.id]; o != nil {
		// Another name for an object already loaded: ld.so compares
		// device and inode and adds the name to it.
		pr.alias(o, name)
		res.o = o
		return true
	}
	o := &obj{path: p, name: name, file: fe.file, id: fe.id, loader: from, reason: reason, feat: feat}
	pr.add(o, name)
	res.o = o
	return true
}

// mismatch says why f cannot be loaded into the process, "" if it can.
func (pr *process) mismatch(f *File) string {
	switch {
	case f.Class != pr.key.class:
		return f.Class.String()
	case f.Data != pr.key.data:
		return f.Data.String()
	case f.Machine != pr.key.machine:
		return f.Machine.String()
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return f.OSABI.String()
	}
	return ""
}

// searchPath returns the directories ld.so searches for a name without a
// slash asked by the object from (glibc's _dl_map_object):
//  1. if from has no DT_RUNPATH: the DT_RPATH of from, of the object that
//     loaded it, and so on up to the program, skipping the DT_RPATH of any
//     object that has a DT_RUNPATH (ld.so ignores RPATH beside RUNPATH);
//  2. (LD_LIBRARY_PATH: never);
//  3. the DT_RUNPATH of from;
//  4. the ld.so.conf directories (ld.so.cache);
//  5. the default directories.
//
// With DF_1_NODEFLIB on from, default directories are left out of 4 and 5.
// Each directory appears once.
func (pr *process) searchPath(from *obj) []string {
	var dirs []string
	if from.file.RunPath == nil {
		for o := from; o != nil; o = o.loader {
			dirs = appendNew(dirs, pr.rpathOf(o)...)
		}
	}
	dirs = appendNew(dirs, pr.runpathOf(from)...)
	nodeflib := from.file.Flags1&elf.DF_1_NODEFLIB != 0
	for _, d := range pr.confDirs {
		if !nodeflib || !slices.Contains(pr.defaults, d) {
			dirs = appendNew(dirs, d)
		}
	}
	if !nodeflib {
		dirs = appendNew(dirs, pr.defaults...)
	}
	return dirs
}

func (pr *process) rpathOf(o *obj) []string {
	if !o.rpathDone {
		o.rpathDone = true
		if o.file.RunPath == nil {
			o.rpath = pr.expandPath(o, o.file.RPath)
		}
	}
	return o.rpath
}

func (pr *process) runpathOf(o *obj) []string {
	if !o.rpDone {
		o.rpDone = true
		o.runpath = pr.expandPath(o, o.file.RunPath)
	}
	return o.runpath
}

// expandPath turns a split DT_RPATH or DT_RUNPATH of o into directories:
// tokens substituted, elements whose token has no value dropped, an entry
// that is wholly empty ignored, relative elements taken from "/".
func (pr *process) expandPath(o *obj, elems []string) []string {
	if len(elems) == 1 && elems[0] == "" {
		return nil
	}
	var dirs []string
	for _, e := range elems {
		d, ok := expandDST(e, pr.originOf(o), pr.arch)
		if ok {
			dirs = appendNew(dirs, rootfs.Clean(d))
		}
	}
	return dirs
}

// originOf returns a function giving $ORIGIN for o, worked out on first
// use since most objects have no token.
func (pr *process) originOf(o *obj) func() string {
	return func() string {
		if !o.originDone {
			o.originDone = true
			if o.reason == ReasonProgram {
				real, _, err := pr.l.fs.Resolve(o.path)
				if err != nil {
					real = o.path
				}
				o.origin = path.Dir(real)
			} else {
				o.origin = pr.l.realDir(path.Dir(o.path))
			}
		}
		return o.origin
	}
}

// asked returns the names o asks ld.so for: its DT_NEEDED and DT_FILTER
// entries and its dlopen notes' sonames.
func (o *obj) asked() []string {
	names := append(slices.Clip(o.file.Needed), o.file.Filter...)
	for _, e := range o.file.Dlopen {
		names = append(names, e.Soname...)
	}
	return names
}

// chain returns the paths from the program down to o.
func (pr *process) chain(o *obj) []string {
	var c []string
	for ; o != nil; o = o.loader {
		c = append(c, o.path)
	}
	slices.Reverse(c)
	return c
}

// appendNew appends the elements of add not already in list.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}
