package elfdeps

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// crafted describes a minimal ELF64 little-endian x86-64 shared object
// built byte by byte, for inputs gcc will not produce (both RPATH and
// RUNPATH, odd notes) and for hostile-input and fuzz seeds.
type crafted struct {
	typ     elf.Type // ET_DYN if zero
	interp  string
	needed  []string
	filter  []string // DT_FILTER
	aux     []string // DT_AUXILIARY
	soname  string
	rpath   *string
	runpath *string
	notes   []Note
	align8  bool // PT_NOTE alignment 8 instead of 4
}

func strp(s string) *string { return &s }

// bytes lays the file out as: ELF header, four program headers (PT_LOAD
// covering the whole file at vaddr 0, PT_INTERP, PT_DYNAMIC, PT_NOTE), the
// interpreter string, the dynamic string table, the dynamic table, the
// notes. Offsets equal virtual addresses.
func (c crafted) bytes() []byte {
	le := binary.LittleEndian
	const ehsize, phentsize, nph = 64, 56, 4
	off := uint64(ehsize + phentsize*nph)

	interpOff := off
	interp := append([]byte(c.interp), 0)
	off += uint64(len(interp))

	var strtab bytes.Buffer
	strtab.WriteByte(0)
	str := func(s string) uint64 {
		o := uint64(strtab.Len())
		strtab.WriteString(s)
		strtab.WriteByte(0)
		return o
	}
	type dyn struct{ tag, val uint64 }
	var dyns []dyn
	for _, n := range c.needed {
		dyns = append(dyns, dyn{uint64(elf.DT_NEEDED), str(n)})
	}
	for _, n := range c.filter {
		dyns = append(dyns, dyn{uint64(elf.DT_FILTER), str(n)})
	}
	for _, n := range c.aux {
		dyns = append(dyns, dyn{uint64(elf.DT_AUXILIARY), str(n)})
	}
	if c.soname != "" {
		dyns = append(dyns, dyn{uint64(elf.DT_SONAME), str(c.soname)})
	}
	if c.rpath != nil {
		dyns = append(dyns, dyn{uint64(elf.DT_RPATH), str(*c.rpath)})
	}
	if c.runpath != nil {
		dyns = append(dyns, dyn{uint64(elf.DT_RUNPATH), str(*c.runpath)})
	}
	strOff := off
	off += uint64(strtab.Len())
	off = (off + 7) &^ 7
	dyns = append(dyns, dyn{uint64(elf.DT_STRTAB), strOff}, dyn{uint64(elf.DT_STRSZ), uint64(strtab.Len())}, dyn{0, 0})
	dynOff := off
	dynSize := uint64(16 * len(dyns))
	off += dynSize

	align := uint64(4)
	if c.align8 {
		align = 8
	}
	up := func(n uint64) uint64 { return (n + align - 1) &^ (align - 1) }
	off = up(off)
	noteOff := off
	var notes []byte
	for _, n := range c.notes {
		var h [12]byte
		le.PutUint32(h[0:], uint32(len(n.Owner)+1))
		le.PutUint32(h[4:], uint32(len(n.Desc)))
		le.PutUint32(h[8:], n.Type)
		start := len(notes)
		notes = append(notes, h[:]...)
		notes = append(notes, n.Owner...)
		notes = append(notes, 0)
		for uint64(len(notes)-start) < up(uint64(len(notes)-start)) {
			notes = append(notes, 0)
		}
		notes = append(notes, n.Desc...)
		for uint64(len(notes)-start) < up(uint64(len(notes)-start)) {
			notes = append(notes, 0)
		}
	}
	off += uint64(len(notes))
	total := off

	out := make([]byte, total)
	copy(out, elf.ELFMAG)
	out[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	out[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	out[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	typ := c.typ
	if typ == 0 {
		typ = elf.ET_DYN
	}
	le.PutUint16(out[16:], uint16(typ))
	le.PutUint16(out[18:], uint16(elf.EM_X86_64))
	le.PutUint32(out[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(out[32:], ehsize) // e_phoff
	le.PutUint16(out[52:], ehsize)
	le.PutUint16(out[54:], phentsize)
	le.PutUint16(out[56:], nph)
	le.PutUint16(out[58:], 64) // e_shentsize, no sections

	ph := func(i int, typ elf.ProgType, off, size, align uint64) {
		p := out[ehsize+i*phentsize:]
		le.PutUint32(p[0:], uint32(typ))
		le.PutUint32(p[4:], uint32(elf.PF_R))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], off)
		le.PutUint64(p[24:], off)
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
		le.PutUint64(p[48:], align)
	}
	ph(0, elf.PT_LOAD, 0, total, 0x1000)
	if c.interp != "" {
		ph(1, elf.PT_INTERP, interpOff, uint64(len(interp)), 1)
	} else {
		ph(1, elf.PT_NULL, 0, 0, 0)
	}
	ph(2, elf.PT_DYNAMIC, dynOff, dynSize, 8)
	ph(3, elf.PT_NOTE, noteOff, uint64(len(notes)), align)

	copy(out[interpOff:], interp)
	copy(out[strOff:], strtab.Bytes())
	for i, d := range dyns {
		le.PutUint64(out[dynOff+uint64(16*i):], d.tag)
		le.PutUint64(out[dynOff+uint64(16*i)+8:], d.val)
	}
	copy(out[noteOff:], notes)
	return out
}

// Offsets into a crafted file, for tests that corrupt it.
const (
	craftPhoff      = 64
	craftPhentsize  = 56
	craftDynamicPh  = 2
	craftNotePh     = 3
	phFileszOffset  = 32
	phOffsetOffset  = 8
	ehPhnumOffset   = 56
	ehShoffOffset   = 40
	ehShnumOffset   = 60
	ehShstrndxOffst = 62
)

func craftedSample() crafted {
	return crafted{
		interp:  "/lib64/ld-linux-x86-64.so.2",
		needed:  []string{"libc.so.6", "libfoo.so.1"},
		soname:  "libsample.so.1",
		runpath: strp("$ORIGIN/../lib:/opt/x"),
		notes: []Note{
			{Owner: "GNU", Type: 3, Desc: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			{Owner: "FDO", Type: NoteTypeDlopen, Desc: []byte(`[{"soname":["libz.so.1","libz.so"],"feature":"z","priority":"suggested"},{"soname":["libq.so.2"]}]` + "\x00")},
			{Owner: "FDO", Type: NoteTypePackage, Desc: []byte(`{"type":"deb","name":"sample"}` + "\x00\x00")},
		},
	}
}
