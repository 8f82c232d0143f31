package uki

import (
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// Offsets of the header fields that Write patches: in the COFF file
// header (after the "PE\0\0" signature), in the optional header, and in
// a section header.
const (
	coffNumberOfSections     = 4 + 2
	coffPointerToSymbolTable = 4 + 8
	coffNumberOfSymbols      = 4 + 12
	coffCharacteristics      = 4 + 18
	coffSize                 = 4 + 20 // with the signature

	optSizeOfCode            = 4
	optSizeOfInitializedData = 8
	optSizeOfImage           = 56
	optSizeOfHeaders         = 60
	optCheckSum              = 64

	sectionHeaderSize = 40
	shVirtualSize     = 8
	shVirtualAddress  = 12
	shSizeOfRawData   = 16
	shPointerToRaw    = 20
	shCharacteristics = 36

	// localSymsStripped is IMAGE_FILE_LOCAL_SYMS_STRIPPED, set when the
	// stub's symbol table is dropped, as ukify does.
	localSymsStripped = 0x0008
	// securityDirectory is the index of the certificate table among the
	// data directories.
	securityDirectory = 4
)

// Bounds on what a stub may be: systemd's stubs are under 200 KiB, with
// 1 KiB of headers.
const (
	maxStubHeaders = 64 << 10
	maxStubData    = 64 << 20
)

// stub is an EFI stub read for Write: its headers, which Write copies and
// patches, and its sections' data.
type stub struct {
	header      []byte // the first SizeOfHeaders bytes, rounded up to fileAlign
	opt         int    // offset of the optional header in header
	table       int    // offset of the section table in header
	fileAlign   uint32
	sectAlign   uint32
	sections    [][]byte // each section's raw data, in table order
	end         uint32   // the first virtual address past the stub's sections
	hasSymTable bool
}

// readStub reads and checks the stub.
func readStub(r io.ReaderAt) (*stub, error) {
	f, err := pe.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("stub: %w: %v", ErrNotPE, err)
	}
	defer f.Close()
	var s stub
	var sizeOfHeaders uint32
	var security pe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		s.fileAlign, s.sectAlign, sizeOfHeaders = oh.FileAlignment, oh.SectionAlignment, oh.SizeOfHeaders
		if oh.NumberOfRvaAndSizes > securityDirectory {
			security = oh.DataDirectory[securityDirectory]
		}
	case *pe.OptionalHeader32:
		s.fileAlign, s.sectAlign, sizeOfHeaders = oh.FileAlignment, oh.SectionAlignment, oh.SizeOfHeaders
		if oh.NumberOfRvaAndSizes > securityDirectory {
			security = oh.DataDirectory[securityDirectory]
		}
	default:
		return nil, fmt.Errorf("stub: %w: no optional header", ErrNotPE)
	}
	if err := s.checkAlignment(); err != nil {
		return nil, err
	}
	if security.VirtualAddress != 0 || security.Size != 0 {
		return nil, fmt.Errorf("stub: %w: a signature would not cover the added sections", ErrSigned)
	}
	s.hasSymTable = f.PointerToSymbolTable != 0
	if err := s.readHeader(r, sizeOfHeaders, f.SizeOfOptionalHeader); err != nil {
		return nil, err
	}
	return &s, s.readSections(f)
}

// checkAlignment checks the alignments that the layout follows, as the
// PE specification states them: FileAlignment a power of two from 512 to
// 64 KiB, and SectionAlignment a power of two no smaller.
func (s *stub) checkAlignment() error {
	fa, sa := s.fileAlign, s.sectAlign
	if bits.OnesCount32(fa) != 1 || fa < 512 || fa > 64<<10 || bits.OnesCount32(sa) != 1 || sa < fa {
		return fmt.Errorf("stub: %w: FileAlignment %#x and SectionAlignment %#x are not powers of two with 512 <= FileAlignment <= 64 KiB and FileAlignment <= SectionAlignment", ErrNotPE, fa, sa)
	}
	return nil
}

// readHeader reads the headers: the DOS header, the PE signature, the COFF
// and optional headers, the section table and what follows it up to
// SizeOfHeaders, rounded up to the file alignment.
func (s *stub) readHeader(r io.ReaderAt, sizeOfHeaders uint32, optSize uint16) error {
	size := alignUp(int64(sizeOfHeaders), s.fileAlign)
	if size > maxStubHeaders {
		return fmt.Errorf("stub: %w: SizeOfHeaders %#x is over %#x", ErrNotPE, sizeOfHeaders, maxStubHeaders)
	}
	s.header = make([]byte, size)
	if _, err := r.ReadAt(s.header, 0); err != nil {
		return fmt.Errorf("stub: %w: reading %d bytes of headers: %v", ErrNotPE, size, err)
	}
	peOff := int(binary.LittleEndian.Uint32(s.header[0x3c:]))
	s.opt = peOff + coffSize
	s.table = s.opt + int(optSize)
	if peOff < 0x40 || s.table > len(s.header) {
		return fmt.Errorf("stub: %w: the headers end at %#x, past SizeOfHeaders %#x", ErrNotPE, s.table, size)
	}
	return nil
}

// readSections reads the stub's sections' data and finds where the
// sections end in memory. A stub that has a UKI's section already is
// refused: it is a UKI, not a stub.
func (s *stub) readSections(f *pe.File) error {
	var total int64
	for _, sec := range f.Sections {
		for k := range numKinds {
			if sec.Name == k.String() {
				return fmt.Errorf("stub: %w: it has a %s section already", ErrSections, sec.Name)
			}
		}
		total += int64(sec.Size)
		if total > maxStubData {
			return fmt.Errorf("stub: %w: its sections hold more than %d bytes", ErrNotPE, maxStubData)
		}
		data, err := sec.Data()
		if err != nil {
			return fmt.Errorf("stub: %w: section %s: %v", ErrNotPE, sec.Name, err)
		}
		s.sections = append(s.sections, data)
		extent := sec.VirtualSize
		if extent == 0 {
			extent = sec.Size
		}
		s.end = max(s.end, sec.VirtualAddress+extent)
	}
	if len(s.sections) == 0 {
		return fmt.Errorf("stub: %w: no sections", ErrNotPE)
	}
	return nil
}

// alignUp rounds n up to a multiple of align, a power of two.
func alignUp(n int64, align uint32) int64 {
	a := int64(align)
	return (n + a - 1) &^ (a - 1)
}
