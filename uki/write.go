package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Write writes to w the UKI made of the stub and the sections, and
// returns the number of bytes written. The sections may be given in any
// order; they are written in the order of their kinds, .linux last. A
// .linux and a .cmdline section are required: a UKI without a command
// line of its own boots with whatever command line the boot loader
// passes. No section may be empty (see CmdlineSection) or given twice.
//
// The output depends only on the stub and the sections' contents. Each
// section's data is read twice: once for the checksum in the headers,
// which come first, and once to write it; data that changes in between
// is an error.
func Write(w io.Writer, stub io.ReaderAt, sections []Section) (int64, error) {
	ordered, err := order(sections)
	if err != nil {
		return 0, err
	}
	st, err := readStub(stub)
	if err != nil {
		return 0, err
	}
	img, err := st.layout(ordered)
	if err != nil {
		return 0, err
	}
	return img.writeTo(w)
}

// CheckStub reports whether Write can add every UKI section to the stub
// r, so that a caller can refuse a bad stub before it builds the rest.
func CheckStub(r io.ReaderAt) error {
	st, err := readStub(r)
	if err != nil {
		return err
	}
	all := make([]Section, numKinds)
	for k := range numKinds {
		all[k] = Bytes(k, []byte{0})
	}
	_, err = st.layout(all)
	return err
}

// order checks the sections and returns them in the order of their kinds.
func order(sections []Section) ([]Section, error) {
	var byKind [numKinds]*Section
	for i := range sections {
		s := &sections[i]
		switch {
		case s.Kind < 0 || s.Kind >= numKinds:
			return nil, fmt.Errorf("%w: unknown section %v", ErrSections, s.Kind)
		case byKind[s.Kind] != nil:
			return nil, fmt.Errorf("%w: %v given twice", ErrSections, s.Kind)
		case s.Data == nil || s.Data.Size() == 0:
			return nil, fmt.Errorf("%w: %v is empty", ErrSections, s.Kind)
		}
		byKind[s.Kind] = s
	}
	for _, k := range []Kind{Linux, Cmdline} {
		if byKind[k] == nil {
			return nil, fmt.Errorf("%w: no %v section", ErrSections, k)
		}
	}
	var ordered []Section
	for _, s := range byKind {
		if s != nil {
			ordered = append(ordered, *s)
		}
	}
	return ordered, nil
}

// image is a laid-out UKI: its headers, then its parts, each padded with
// zeros to its file size, one after the other from the end of the
// headers.
type image struct {
	header []byte
	opt    int // offset of the optional header, for the checksum
	parts  []part
}

// part is one section's data in the file.
type part struct {
	name     string
	r        io.ReaderAt
	size     int64 // bytes of data
	fileSize int64 // size padded to the file alignment: SizeOfRawData
}

// layout places the stub's sections and the added ones. The stub's
// sections keep their virtual addresses and are packed in the file from
// the end of the headers, dropping any gap and anything after them (the
// stub's COFF symbol table, which is not loaded); the added sections
// follow, in the file and in memory.
func (s *stub) layout(added []Section) (*image, error) {
	n := len(s.sections) + len(added)
	if end := s.table + n*sectionHeaderSize; end > len(s.header) {
		return nil, fmt.Errorf("stub: %w: %d section headers end at %#x, past SizeOfHeaders %#x",
			ErrNoRoom, n, end, len(s.header))
	}
	img := &image{header: bytes.Clone(s.header), opt: s.opt}
	h := img.header
	off := int64(len(h))
	for i, data := range s.sections {
		sh := h[s.table+i*sectionHeaderSize:]
		if len(data) == 0 {
			continue
		}
		p := part{name: fmt.Sprint("stub section ", i), r: bytes.NewReader(data), size: int64(len(data)),
			fileSize: alignUp(int64(len(data)), s.fileAlign)}
		put32(sh[shSizeOfRawData:], p.fileSize)
		put32(sh[shPointerToRaw:], off)
		img.parts = append(img.parts, p)
		off += p.fileSize
	}
	va := alignUp(int64(s.end), s.sectAlign)
	var code, data int64
	for j, sec := range added {
		sh := h[s.table+(len(s.sections)+j)*sectionHeaderSize:]
		p := part{name: sec.Kind.String(), r: sec.Data, size: sec.Data.Size(),
			fileSize: alignUp(sec.Data.Size(), s.fileAlign)}
		if va+p.size > math.MaxUint32 || off+p.fileSize > math.MaxUint32 {
			return nil, fmt.Errorf("%w: %v ends past 4 GiB", ErrTooLarge, sec.Kind)
		}
		putSectionHeader(sh, sec.Kind, p, va, off)
		img.parts = append(img.parts, p)
		if sec.Kind == Linux {
			code += p.fileSize
		} else {
			data += p.fileSize
		}
		va = alignUp(va+p.size, s.sectAlign)
		off += p.fileSize
	}
	return img, s.patch(h, n, va, code, data)
}

// putSectionHeader writes the header of an added section. The kernel is
// code, as ukify marks it: stubs that run old kernels through the EFI
// handover protocol execute it in place. The others are initialized
// data. All are read-only.
func putSectionHeader(sh []byte, k Kind, p part, va, off int64) {
	clear(sh[:sectionHeaderSize])
	copy(sh, k.String())
	put32(sh[shVirtualSize:], p.size)
	put32(sh[shVirtualAddress:], va)
	put32(sh[shSizeOfRawData:], p.fileSize)
	put32(sh[shPointerToRaw:], off)
	var c int64 = pe.IMAGE_SCN_MEM_READ | pe.IMAGE_SCN_CNT_INITIALIZED_DATA
	if k == Linux {
		c = pe.IMAGE_SCN_MEM_READ | pe.IMAGE_SCN_CNT_CODE
	}
	put32(sh[shCharacteristics:], c)
}

// patch updates the headers for n sections ending at the virtual address
// end, with code and data more bytes of code and initialized data. The
// checksum is left zero, for writeTo.
func (s *stub) patch(h []byte, n int, end, code, data int64) error {
	coff, opt := s.opt-coffSize, s.opt
	binary.LittleEndian.PutUint16(h[coff+coffNumberOfSections:], uint16(n))
	if s.hasSymTable {
		put32(h[coff+coffPointerToSymbolTable:], 0)
		put32(h[coff+coffNumberOfSymbols:], 0)
		c := binary.LittleEndian.Uint16(h[coff+coffCharacteristics:])
		binary.LittleEndian.PutUint16(h[coff+coffCharacteristics:], c|localSymsStripped)
	}
	for _, f := range []struct {
		off int
		add int64
	}{{optSizeOfCode, code}, {optSizeOfInitializedData, data}} {
		v := int64(binary.LittleEndian.Uint32(h[opt+f.off:])) + f.add
		if v > math.MaxUint32 {
			return fmt.Errorf("%w: %d bytes of sections", ErrTooLarge, v)
		}
		put32(h[opt+f.off:], v)
	}
	put32(h[opt+optSizeOfImage:], end)
	put32(h[opt+optSizeOfHeaders:], int64(len(h)))
	put32(h[opt+optCheckSum:], 0)
	return nil
}

// writeTo writes the image: the headers with their checksum, then each
// part padded with zeros. The data is checksummed again as it is written,
// so that data that changed after the first pass is an error rather than
// an image whose checksum is wrong.
func (img *image) writeTo(w io.Writer) (int64, error) {
	var header checksum // of the headers, with the checksum field zero
	header.Write(img.header)
	first := header
	for _, p := range img.parts {
		if err := p.copy(&first); err != nil {
			return 0, err
		}
	}
	sum := first.Sum()
	put32(img.header[img.opt+optCheckSum:], int64(sum))
	cw := &countWriter{w: w}
	if _, err := cw.Write(img.header); err != nil {
		return cw.n, err
	}
	again := header
	for _, p := range img.parts {
		if err := p.copy(io.MultiWriter(cw, &again)); err != nil {
			return cw.n, err
		}
	}
	if again.Sum() != sum {
		return cw.n, ErrChanged
	}
	return cw.n, nil
}

// copy writes the part's data padded with zeros to its file size; data
// shorter than said is an error.
func (p part) copy(w io.Writer) error {
	n, err := io.Copy(w, io.NewSectionReader(p.r, 0, p.size))
	var we *writeError
	switch {
	case errors.As(err, &we):
		return we.err
	case err != nil:
		return fmt.Errorf("%s: %w", p.name, err)
	case n != p.size:
		return fmt.Errorf("%s: %w: %d bytes, expected %d", p.name, io.ErrUnexpectedEOF, n, p.size)
	}
	_, err = w.Write(make([]byte, p.fileSize-p.size))
	if errors.As(err, &we) {
		err = we.err
	}
	return err
}

// countWriter counts the bytes written, and marks its errors as the
// output's, so that they are not reported as a section's.
type countWriter struct {
	w io.Writer
	n int64
}

// writeError is an error of the output.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

func (e *writeError) Unwrap() error { return e.err }

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// put32 stores v, which the layout keeps below 4 GiB, little-endian.
func put32(b []byte, v int64) { binary.LittleEndian.PutUint32(b, uint32(v)) }
