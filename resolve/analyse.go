package resolve

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/elfdeps"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
	"github.com/mkinitrd-ng/mkinitrd-ng/units"
)

// analyse looks inside a regular file for what it pulls in: an ELF
// file's libraries, a script's interpreter, a udev rules file's
// programs, and store-path references. It returns the machine of the
// file's code (see Entry.Machine).
//
// Each file is opened once, here, by the loader, or by units or kmod: an
// ELF file opened here is handed to the loader, which reads it from the
// open file; one the loader has parsed already (a library it found, a
// program asked for again under another path) is not opened again unless
// its content is scanned; a unit or modprobe.d file is analysed from the
// bytes its package read, and a module or firmware file not at all.
func (r *resolver) analyse(o *outcome, q *request, file string, fi fs.FileInfo) elf.Machine {
	if k, ok := r.alreadyRead[file]; ok {
		if !k.opaque {
			head := k.data[:min(len(k.data), 4096)]
			r.analyseData(o, q, file, head, bytes.NewReader(k.data[len(head):]))
		}
		return elfdeps.CodeMachine(k.data)
	}
	if !r.m.ScanELF {
		if f, ok := r.loader.Parsed(file, fi); ok {
			if q.program {
				r.elfDeps(o, q, file)
			}
			return f.CodeMachine()
		}
	}
	f, err := r.fs.OpenNoFollow(file)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", file, q.why, rootfs.Cause(err)))
		return elf.EM_NONE
	}
	defer f.Close()
	head := r.heads.Get().(*[4096]byte)[:]
	defer r.heads.Put((*[4096]byte)(head))
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		o.errs = append(o.errs, fmt.Errorf("%s: read: %w", file, rootfs.Cause(err)))
		return elf.EM_NONE
	}
	if elfdeps.IsELF(head[:n]) {
		// A parse error is not wanted here: Process reports it, for a
		// program, with the request's reason.
		r.loader.FileOf(file, f)
	}
	r.analyseData(o, q, file, head[:n], f)
	return elfdeps.CodeMachine(head[:n])
}

// analyseData looks at a file's first bytes, head, and the rest of its
// content for what it pulls in.
func (r *resolver) analyseData(o *outcome, q *request, file string, head []byte, rest io.Reader) {
	isELF := elfdeps.IsELF(head)
	if !isELF && isUdevRules(file) {
		data, err := r.udevPrograms(o, file, head, rest)
		if err != nil {
			o.errs = append(o.errs, fmt.Errorf("%s: read: %w", file, rootfs.Cause(err)))
			return
		}
		head, rest = data[:len(head)], bytes.NewReader(data[len(head):])
	}
	if isELF && q.program {
		r.elfDeps(o, q, file)
	}
	if !isELF && bytes.HasPrefix(head, []byte("#!")) {
		r.interpreter(o, file, head)
	}
	if isELF && !r.m.ScanELF {
		return
	}
	refs, err := r.store.scan(io.MultiReader(bytes.NewReader(head), rest))
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s: read: %w", file, rootfs.Cause(err)))
		return
	}
	for _, ref := range refs {
		r.storeRef(o, file, ref)
	}
}

// elfDeps adds what the program at file loads.
func (r *resolver) elfDeps(o *outcome, q *request, file string) {
	objs, err := r.loader.Process(file, q.dlopen)
	// An asker is named by the path it was found at; its entry is at
	// its real path, which From must name for a chain to be followed.
	real := map[string]string{"": file}
	for _, obj := range objs {
		if obj.Reason == elfdeps.ReasonProgram {
			continue
		}
		by := obj.NeededBy
		if _, ok := real[by]; !ok {
			real[by] = by
			if p, _, err := r.fs.Resolve(by); err == nil {
				real[by] = p
			}
		}
		why := reasonText(obj) + by
		if by == "" {
			why += file
		}
		o.next = append(o.next, request{path: obj.Path, why: why, from: real[by]})
	}
	if err != nil {
		r.processErrors(o, q, file, err)
	}
}

// processErrors sorts what resolving a program found wrong: each missing
// library is an error, a warning, or left to settle; anything else, such
// as a library that cannot be parsed, is an error.
func (r *resolver) processErrors(o *outcome, q *request, file string, err error) {
	errs := []error{err}
	var pe *elfdeps.ProcessError
	if errors.As(err, &pe) {
		errs = pe.Errs
	}
	lone := r.isLoneLibrary(file)
	for _, err := range errs {
		var m *elfdeps.MissingError
		switch {
		case !errors.As(err, &m):
			o.errs = append(o.errs, fmt.Errorf("%s (%s): %w", file, q.why, err))
		case m.Optional:
			o.warnf("%s", m.Error())
		case lone:
			o.deferred = append(o.deferred, m)
		case r.allowMissing():
			o.warnf("%s", m.Error())
		default:
			o.errs = append(o.errs, m)
		}
	}
}

func (r *resolver) allowMissing() bool { return r.opts.AllowMissing || r.m.AllowMissing }

// isLoneLibrary reports whether file is a shared library with no
// interpreter: resolved as a file of its own (a directory member, a
// source), it runs only inside a program's process, whose context
// decides what its names find.
func (r *resolver) isLoneLibrary(file string) bool {
	f, err := r.loader.File(file)
	return err == nil && f.Interp == "" && f.Type == elf.ET_DYN
}

// settle decides the misses of libraries resolved alone, once every
// program of the closure has been resolved: a name that a program's
// process loading the library resolves, as ld.so would there, is no miss,
// and the library's reason names that program. Any other is an error.
func (r *resolver) settle() {
	for _, m := range r.deferred {
		asker := m.Chain[len(m.Chain)-1]
		if pv, name, ok := r.provider(asker, m); ok {
			real := asker
			if p, _, err := r.fs.Resolve(asker); err == nil {
				real = p
			}
			r.notes[real] = append(r.notes[real], fmt.Sprintf("its %s is %s in the process of %s", name, pv.Path, pv.Program))
			continue
		}
		err := fmt.Errorf("%w; no program in the image loads %s with a %s", m, m.Chain[0], m.Soname)
		if r.allowMissing() {
			r.warnings = append(r.warnings, err.Error())
		} else {
			r.errs = append(r.errs, err)
		}
	}
	r.deferred = nil
}

// provider returns what a process in the closure resolved the missing
// name, or one of its alternatives, to for the object at asker.
func (r *resolver) provider(asker string, m *elfdeps.MissingError) (elfdeps.Provision, string, bool) {
	for _, name := range append([]string{m.Soname}, m.Alternatives...) {
		if pv, ok := r.loader.Provider(asker, name); ok {
			return pv, name, true
		}
	}
	return elfdeps.Provision{}, "", false
}

// reasonText says how an object was asked for, before its asker's path.
func reasonText(obj elfdeps.Object) string {
	switch obj.Reason {
	case elfdeps.ReasonNeeded:
		return "needed by "
	case elfdeps.ReasonDlopen:
		if obj.Feature != "" {
			return "dlopen note (feature " + obj.Feature + ") of "
		}
		return "dlopen note of "
	}
	return obj.Reason.String() + " of "
}

// interpreter adds a script's "#!" interpreter, and for "#!/usr/bin/env
// NAME" the NAME found on the PATH.
func (r *resolver) interpreter(o *outcome, file string, head []byte) {
	line := head[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	words := strings.Fields(string(line))
	if len(words) == 0 {
		o.warnf("%s: empty \"#!\" line", file)
		return
	}
	why := "interpreter of " + file
	o.next = append(o.next, request{path: words[0], why: why, from: file, program: true})
	if path.Base(words[0]) != "env" {
		return
	}
	for _, w := range words[1:] {
		if strings.HasPrefix(w, "-") || strings.Contains(w, "=") {
			continue
		}
		if found := r.lookPath(w); found != "" {
			o.next = append(o.next, request{path: found, why: why + " (through env)", from: file, program: true})
		} else {
			o.errs = append(o.errs, fmt.Errorf("%s: interpreter %q not found in %s", file, w, strings.Join(units.DefaultPath(), ":")))
		}
		return
	}
}

// lookPath finds a command name in systemd's fixed PATH inside the
// root: where "#!/usr/bin/env NAME" finds NAME in an initrd.
func (r *resolver) lookPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range units.DefaultPath() {
		p := path.Join(dir, name)
		if fi, err := r.fs.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// storeRef adds a referenced store path that exists. A directory is
// added alone, not with its contents: only what is referenced goes in.
func (r *resolver) storeRef(o *outcome, file, ref string) {
	if _, err := r.fs.Stat(ref); err != nil {
		return
	}
	o.next = append(o.next, request{path: ref, why: "referenced by " + file, from: file, program: true})
}
