// Package elfdeps reads the facts the dynamic loader uses from ELF files and
// repeats glibc's ld.so library lookup inside a source tree, so that an initrd
// holds every shared object its programs will load.
//
// Read parses one file; a Loader looks files up inside a rootfs.FS with a
// cache shared by concurrent callers; Loader.Process lists everything one
// program loads: its interpreter, the DT_NEEDED closure and the libraries its
// objects declare in .note.dlopen ELF notes.
//
// Only what ld.so itself reads is trusted: the dynamic table comes from the
// PT_DYNAMIC segment, never from section headers, so that a file whose
// sections were stripped or disagree with its segments is seen the way the
// loader sees it.
package elfdeps

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotELF is returned for a file that does not start with the ELF magic.
// It is an answer, not a failure: callers test it with errors.Is.
var ErrNotELF = errors.New("elfdeps: not an ELF file")

// Note owners and types of the FDO (freedesktop.org) notes that systemd and
// Debian put in binaries.
const (
	NoteOwnerFDO    = "FDO"
	NoteTypeDlopen  = 0x407c0c0a // .note.dlopen: JSON array of DlopenNote
	NoteTypePackage = 0xcafe1a7e // .note.package: JSON object naming the package
)

// Limits on sizes read from the file, so that a hostile header cannot make
// us allocate without bound. Real files are far below them.
const (
	maxDynamicSize = 1 << 20 // bytes of PT_DYNAMIC
	maxNoteSize    = 1 << 20 // bytes of one note section or segment
	maxStringSize  = 1 << 16 // bytes of one dynamic string
)

// Priority is how much a program needs a library its dlopen note names.
// The priorities are ordered from most to least important.
type Priority uint8

// The priorities of the .note.dlopen format. A note entry without a
// priority is PriorityRecommended; one this package does not know (a
// future extension of the format) is PriorityUnknown, ranked last.
// PriorityNone is no note's: in a DlopenPolicy it selects none.
const (
	PriorityNone Priority = iota
	PriorityRequired
	PriorityRecommended
	PrioritySuggested
	PriorityUnknown
)

var priorityNames = [...]string{"none", "required", "recommended", "suggested", "unknown"}

func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

// ParsePriority returns the priority a name ("none", "required",
// "recommended", "suggested") stands for.
func ParsePriority(name string) (Priority, error) {
	for p, n := range priorityNames[:PriorityUnknown] {
		if n == name {
			return Priority(p), nil
		}
	}
	return 0, fmt.Errorf("priority %q is not one of none, required, recommended, suggested", name)
}

// UnmarshalText reads a note entry's priority: a missing one is
// recommended, an unknown one PriorityUnknown.
func (p *Priority) UnmarshalText(b []byte) error {
	switch v, err := ParsePriority(string(b)); {
	case len(b) == 0:
		*p = PriorityRecommended
	case err != nil || v == PriorityNone:
		*p = PriorityUnknown
	default:
		*p = v
	}
	return nil
}

// DlopenNote is one entry of a .note.dlopen note: a library the object may
// load at run time with dlopen(3). Soname lists alternatives, best first.
type DlopenNote struct {
	Soname      []string `json:"soname"`
	Feature     string   `json:"feature,omitempty"`
	Description string   `json:"description,omitempty"`
	Priority    Priority `json:"priority,omitempty"`
}

// Note is one ELF note: its owner (name without the NUL), type and
// descriptor bytes.
type Note struct {
	Owner string
	Type  uint32
	Desc  []byte
}

// File holds what the dynamic loader and mkinitrd-ng need from one ELF file.
type File struct {
	Class      elf.Class
	Data       elf.Data
	Machine    elf.Machine
	OSABI      elf.OSABI
	ABIVersion uint8
	Type       elf.Type

	Interp    string   // PT_INTERP path, "" if none
	Needed    []string // DT_NEEDED, in order
	Filter    []string // DT_FILTER: loaded like DT_NEEDED
	Auxiliary []string // DT_AUXILIARY: loaded if found
	Soname    string   // DT_SONAME
	// RPath and RunPath are DT_RPATH and DT_RUNPATH split at ':'. RunPath
	// is non-nil whenever the tag is present, even with an empty value,
	// because its presence alone disables RPATH lookups.
	RPath   []string
	RunPath []string
	Flags1  elf.DynFlag1 // DT_FLAGS_1 (DF_1_NODEFLIB matters here)

	Dlopen  []DlopenNote // entries of all FDO dlopen notes, in file order
	Package string       // JSON text of the FDO package note, "" if none

	notes []Note
}

// Notes returns the descriptors of the notes with the given owner and type,
// in file order.
func (f *File) Notes(owner string, typ uint32) [][]byte {
	var out [][]byte
	for _, n := range f.notes {
		if n.Owner == owner && n.Type == typ {
			out = append(out, n.Desc)
		}
	}
	return out
}

// IsELF reports whether magic, the first bytes of a file, is the ELF magic.
func IsELF(magic []byte) bool {
	return len(magic) >= 4 && string(magic[:4]) == elf.ELFMAG
}

// CodeMachine returns the machine of the ELF executable or shared object
// whose first bytes are head (at least the 20 of the identification, type
// and machine), and elf.EM_NONE for any other file, a relocatable object
// (a kernel module) included: compressors filter the branches of machine
// code that is loaded as it is, and a relocatable object's are not yet
// resolved, which such a filter does not help.
func CodeMachine(head []byte) elf.Machine {
	if !IsELF(head) || len(head) < 20 {
		return elf.EM_NONE
	}
	var order binary.ByteOrder
	switch elf.Data(head[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return elf.EM_NONE
	}
	return codeMachine(elf.Type(order.Uint16(head[16:])), elf.Machine(order.Uint16(head[18:])))
}

// CodeMachine is the package's CodeMachine of a parsed file.
func (f *File) CodeMachine() elf.Machine { return codeMachine(f.Type, f.Machine) }

// codeMachine is m for an executable or a shared object, else EM_NONE.
func codeMachine(t elf.Type, m elf.Machine) elf.Machine {
	if t == elf.ET_EXEC || t == elf.ET_DYN {
		return m
	}
	return elf.EM_NONE
}

// Read parses the ELF file r. It reads the headers, the PT_DYNAMIC segment,
// the strings it names and the notes, never the whole file. A file without
// the ELF magic gives ErrNotELF; a file with it that cannot be parsed gives
// another error (never a panic, whatever the bytes). Errors do not name the
// file: callers add the path.
func Read(r io.ReaderAt) (f *File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("malformed ELF file (parser panic: %v)", p)
		}
	}()
	return read(r)
}

// read is Read without the recover, so that the fuzz test sees panics.
func read(r io.ReaderAt) (*File, error) {
	var magic [4]byte
	if n, err := r.ReadAt(magic[:], 0); n < len(magic) {
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, ErrNotELF
	}
	if !IsELF(magic[:]) {
		return nil, ErrNotELF
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("malformed ELF file: %w", err)
	}
	f := &File{
		Class:      ef.Class,
		Data:       ef.Data,
		Machine:    ef.Machine,
		OSABI:      ef.OSABI,
		ABIVersion: ef.ABIVersion,
		Type:       ef.Type,
	}
	p := parser{r: r, ef: ef, f: f}
	if err := p.interp(); err != nil {
		return nil, err
	}
	if err := p.dynamic(); err != nil {
		return nil, err
	}
	if err := p.readNotes(); err != nil {
		return nil, err
	}
	if err := p.fdoNotes(); err != nil {
		return nil, err
	}
	return f, nil
}

// parser reads the parts of the ELF file r that File holds into f.
type parser struct {
	r  io.ReaderAt
	ef *elf.File
	f  *File
}

// readAt reads size bytes at off, all of them or an error naming what.
func (p *parser) readAt(size, off uint64, what string) ([]byte, error) {
	if off > 1<<62 || size > 1<<62 {
		return nil, fmt.Errorf("malformed ELF file: %s at offset %#x size %#x out of range", what, off, size)
	}
	buf := make([]byte, size)
	n, err := p.r.ReadAt(buf, int64(off))
	if n == len(buf) {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("malformed ELF file: reading %s at offset %#x: %w", what, off, err)
}

// interp reads the PT_INTERP path, the program interpreter (ld.so).
func (p *parser) interp() error {
	b, ok, err := p.segment(elf.PT_INTERP, maxStringSize)
	if !ok || err != nil {
		return err
	}
	b = cString(b)
	if len(b) == 0 {
		return errors.New("malformed ELF file: empty PT_INTERP")
	}
	p.f.Interp = string(b)
	return nil
}

// segment reads the first segment of type typ, the one ld.so uses, which
// may hold at most limit bytes. ok is false when the file has none.
func (p *parser) segment(typ elf.ProgType, limit uint64) (data []byte, ok bool, err error) {
	for _, prog := range p.ef.Progs {
		if prog.Type != typ {
			continue
		}
		if prog.Filesz > limit {
			return nil, true, fmt.Errorf("malformed ELF file: %v of %d bytes", typ, prog.Filesz)
		}
		data, err := p.readAt(prog.Filesz, prog.Off, typ.String())
		return data, true, err
	}
	return nil, false, nil
}

// dynamic reads the PT_DYNAMIC segment the way ld.so does: entries up to
// DT_NULL, string offsets into the table at DT_STRTAB (a virtual address
// mapped to a file offset through the PT_LOAD segments). For single-valued
// tags the last entry wins, as in glibc.
func (p *parser) dynamic() error {
	data, ok, err := p.segment(elf.PT_DYNAMIC, maxDynamicSize)
	if !ok || err != nil {
		return err
	}
	t := p.decodeDynamic(data)
	p.f.Flags1 = t.flags1
	if len(t.needed)+len(t.filter)+len(t.aux) == 0 && !t.soname.ok && !t.rpath.ok && !t.runpath.ok {
		return nil // no strings to read: the string table need not exist
	}
	return p.dynamicStrings(&t)
}

// dynamicTable is what the entries of PT_DYNAMIC hold, before the strings
// they point to are read.
type dynamicTable struct {
	needed, filter, aux    []uint64 // string offsets, in order
	soname, rpath, runpath dynValue // string offsets
	strtab, strsz          dynValue // the string table's address and size
	flags1                 elf.DynFlag1
}

// dynValue is a dynamic entry's value and whether the entry was present.
type dynValue struct {
	val uint64
	ok  bool
}

// decodeDynamic decodes the entries of PT_DYNAMIC, data, up to DT_NULL,
// keeping the tags this package uses.
func (p *parser) decodeDynamic(data []byte) dynamicTable {
	bo := p.ef.ByteOrder
	entSize := 16
	if p.ef.Class == elf.ELFCLASS32 {
		entSize = 8
	}
	var t dynamicTable
	for i := 0; i+entSize <= len(data); i += entSize {
		var tag elf.DynTag
		var val uint64
		if entSize == 8 {
			tag = elf.DynTag(int32(bo.Uint32(data[i:])))
			val = uint64(bo.Uint32(data[i+4:]))
		} else {
			tag = elf.DynTag(bo.Uint64(data[i:]))
			val = bo.Uint64(data[i+8:])
		}
		switch tag {
		case elf.DT_NULL:
			return t
		case elf.DT_NEEDED:
			t.needed = append(t.needed, val)
		case elf.DT_FILTER:
			t.filter = append(t.filter, val)
		case elf.DT_AUXILIARY:
			t.aux = append(t.aux, val)
		case elf.DT_SONAME:
			t.soname = dynValue{val, true}
		case elf.DT_RPATH:
			t.rpath = dynValue{val, true}
		case elf.DT_RUNPATH:
			t.runpath = dynValue{val, true}
		case elf.DT_STRTAB:
			t.strtab = dynValue{val, true}
		case elf.DT_STRSZ:
			t.strsz = dynValue{val, true}
		case elf.DT_FLAGS_1:
			t.flags1 = elf.DynFlag1(val)
		}
	}
	return t
}

// dynamicStrings reads the strings the entries in t point to into the
// File.
func (p *parser) dynamicStrings(t *dynamicTable) error {
	if !t.strtab.ok || !t.strsz.ok {
		return errors.New("malformed ELF file: dynamic strings without DT_STRTAB or DT_STRSZ")
	}
	base, ok := p.fileOffset(t.strtab.val, t.strsz.val)
	if !ok {
		return fmt.Errorf("malformed ELF file: DT_STRTAB %#x size %#x is not in a PT_LOAD segment", t.strtab.val, t.strsz.val)
	}
	s := stringTable{p: p, base: base, size: t.strsz.val}
	var err error
	f := p.f
	if f.Needed, err = s.list(t.needed); err != nil {
		return err
	}
	if f.Filter, err = s.list(t.filter); err != nil {
		return err
	}
	if f.Auxiliary, err = s.list(t.aux); err != nil {
		return err
	}
	if t.soname.ok {
		if f.Soname, err = s.at(t.soname.val); err != nil {
			return err
		}
	}
	if f.RPath, err = s.searchPath(t.rpath); err != nil {
		return err
	}
	f.RunPath, err = s.searchPath(t.runpath)
	return err
}

// fileOffset maps the virtual address range [addr, addr+size) to a file
// offset through the PT_LOAD segment holding it.
func (p *parser) fileOffset(addr, size uint64) (uint64, bool) {
	for _, prog := range p.ef.Progs {
		if prog.Type != elf.PT_LOAD || addr < prog.Vaddr {
			continue
		}
		rel := addr - prog.Vaddr
		if rel < prog.Filesz && size <= prog.Filesz-rel {
			return prog.Off + rel, true
		}
	}
	return 0, false
}

// stringTable is the dynamic string table: size bytes at file offset
// base. Its strings are read one at a time, never the whole table.
type stringTable struct {
	p          *parser
	base, size uint64
}

// at reads the NUL-terminated string at off, growing the read until the
// NUL is found.
func (s stringTable) at(off uint64) (string, error) {
	if off >= s.size {
		return "", fmt.Errorf("malformed ELF file: dynamic string offset %#x beyond DT_STRSZ %#x", off, s.size)
	}
	limit := min(s.size-off, maxStringSize)
	for n := min(uint64(256), limit); ; n = min(n*4, limit) {
		b, err := s.p.readAt(n, s.base+off, "dynamic string table")
		if err != nil {
			return "", err
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return string(b[:i]), nil
		}
		if n == limit {
			return "", fmt.Errorf("malformed ELF file: dynamic string at offset %#x is not terminated", off)
		}
	}
}

// list reads the strings at offs, in order.
func (s stringTable) list(offs []uint64) ([]string, error) {
	var out []string
	for _, off := range offs {
		str, err := s.at(off)
		if err != nil {
			return nil, err
		}
		out = append(out, str)
	}
	return out, nil
}

// searchPath reads a DT_RPATH or DT_RUNPATH value split at ':': nil when
// the entry is absent, non-nil (even for an empty string) when present.
func (s stringTable) searchPath(v dynValue) ([]string, error) {
	if !v.ok {
		return nil, nil
	}
	str, err := s.at(v.val)
	if err != nil {
		return nil, err
	}
	return strings.Split(str, ":"), nil
}

// readNotes collects every note. Sections are used when the file has note
// sections (they include notes that are not loaded); otherwise the PT_NOTE
// segments, which survive when section headers are stripped.
func (p *parser) readNotes() error {
	if p.ef.Type == elf.ET_CORE {
		return nil // core dumps carry large notes nobody here wants
	}
	found := false
	for _, s := range p.ef.Sections {
		if s.Type != elf.SHT_NOTE || s.Flags&elf.SHF_COMPRESSED != 0 {
			continue
		}
		found = true
		if err := p.noteBlock(s.Size, s.Offset, s.Addralign, "note section "+s.Name); err != nil {
			return err
		}
	}
	if found {
		return nil
	}
	for _, prog := range p.ef.Progs {
		if prog.Type != elf.PT_NOTE {
			continue
		}
		if err := p.noteBlock(prog.Filesz, prog.Off, prog.Align, "PT_NOTE segment"); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) noteBlock(size, off, align uint64, what string) error {
	if size > maxNoteSize {
		return fmt.Errorf("malformed ELF file: %s of %d bytes", what, size)
	}
	data, err := p.readAt(size, off, what)
	if err != nil {
		return err
	}
	notes, err := parseNotes(data, align, p.ef.ByteOrder)
	if err != nil {
		return fmt.Errorf("malformed ELF file: %s: %w", what, err)
	}
	p.f.notes = append(p.f.notes, notes...)
	return nil
}

// parseNotes splits a block of notes. The descriptor and the next note
// start at offsets rounded up to the block's alignment: 4 normally, 8 for
// 8-aligned blocks such as .note.gnu.property on 64-bit files (there the
// 12-byte header and a 4-byte name "GNU" end on an 8-byte boundary).
func parseNotes(data []byte, align uint64, bo binary.ByteOrder) ([]Note, error) {
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	up := func(n uint64) uint64 { return (n + pad - 1) &^ (pad - 1) }
	var notes []Note
	for len(data) >= 12 {
		namesz := uint64(bo.Uint32(data))
		descsz := uint64(bo.Uint32(data[4:]))
		typ := bo.Uint32(data[8:])
		size := uint64(len(data))
		descOff := up(12 + namesz)
		if descOff > size || descsz > size-descOff {
			return nil, fmt.Errorf("note of type %#x overruns its block (name %d, descriptor %d bytes, %d left)", typ, namesz, descsz, size-12)
		}
		name := cString(data[12 : 12+namesz])
		desc := data[descOff : descOff+descsz]
		notes = append(notes, Note{Owner: string(name), Type: typ, Desc: bytes.Clone(desc)})
		next := up(descOff + descsz)
		if next >= size {
			break
		}
		data = data[next:]
	}
	return notes, nil
}

// fdoNotes decodes the FDO dlopen and package notes.
func (p *parser) fdoNotes() error {
	for _, desc := range p.f.Notes(NoteOwnerFDO, NoteTypeDlopen) {
		var entries []DlopenNote
		if err := json.Unmarshal(cString(desc), &entries); err != nil {
			return fmt.Errorf("malformed .note.dlopen: %w", err)
		}
		for i := range entries {
			e := &entries[i]
			if len(e.Soname) == 0 {
				return fmt.Errorf("malformed .note.dlopen: entry %d has no soname", i)
			}
			for _, s := range e.Soname {
				if s == "" {
					return fmt.Errorf("malformed .note.dlopen: entry %d has an empty soname", i)
				}
			}
			if e.Priority == PriorityNone {
				e.Priority = PriorityRecommended
			}
		}
		p.f.Dlopen = append(p.f.Dlopen, entries...)
	}
	if pkg := p.f.Notes(NoteOwnerFDO, NoteTypePackage); len(pkg) > 0 {
		p.f.Package = string(cString(pkg[0]))
	}
	return nil
}

// cString cuts b at its first NUL.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
