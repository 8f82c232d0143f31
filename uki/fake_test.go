package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"testing"
)

// fakeStub describes a small PE image made for tests: sections of 0x10
// bytes, each at its own page, stored with an empty file alignment unit
// between them and a COFF symbol table after them, as old stubs had.
type fakeStub struct {
	pe32     bool // a PE32 optional header rather than PE32+
	sections int
	headers  int // SizeOfHeaders, a multiple of 0x200
}

// tinyStub is a PE32+ fakeStub of n sections whose headers of 0x200 bytes
// have room for 4 section headers, after 0x148 bytes of other headers.
func tinyStub(n int) []byte { return fakeStub{sections: n, headers: 0x200}.bytes() }

func (s fakeStub) bytes() []byte {
	const peOff, fileAlign = 0x40, 0x200
	headers := s.headers
	optSize, magic := 240, uint16(0x20b)
	if s.pe32 {
		optSize, magic = 224, 0x10b
	}
	size := headers + s.sections*2*fileAlign
	b := make([]byte, size+18+4)
	le := binary.LittleEndian
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], peOff)
	copy(b[peOff:], "PE\x00\x00")
	coff := b[peOff+4:]
	le.PutUint16(coff[0:], pe.IMAGE_FILE_MACHINE_AMD64)
	le.PutUint16(coff[2:], uint16(s.sections))
	le.PutUint32(coff[8:], uint32(size)) // the symbol table: one empty symbol
	le.PutUint32(coff[12:], 1)
	le.PutUint16(coff[16:], uint16(optSize))
	le.PutUint16(coff[18:], pe.IMAGE_FILE_EXECUTABLE_IMAGE)
	le.PutUint32(b[size+18:], 4) // the string table's length, itself only
	opt := b[peOff+coffSize:]
	le.PutUint16(opt[0:], magic)
	le.PutUint32(opt[32:], 0x1000)
	le.PutUint32(opt[36:], fileAlign)
	le.PutUint32(opt[56:], uint32(0x1000*(s.sections+1)))
	le.PutUint32(opt[60:], uint32(headers))
	le.PutUint16(opt[68:], pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	le.PutUint32(opt[optSize-16*8-4:], 16)
	for i := range s.sections {
		sh := b[peOff+coffSize+optSize+i*sectionHeaderSize:]
		copy(sh, []byte{'.', 's', byte('0' + i)})
		le.PutUint32(sh[shVirtualSize:], 0x10)
		le.PutUint32(sh[shVirtualAddress:], uint32(0x1000*(i+1)))
		le.PutUint32(sh[shSizeOfRawData:], fileAlign)
		raw := headers + (2*i+1)*fileAlign
		le.PutUint32(sh[shPointerToRaw:], uint32(raw))
		le.PutUint32(sh[shCharacteristics:], pe.IMAGE_SCN_CNT_INITIALIZED_DATA|pe.IMAGE_SCN_MEM_READ)
		copy(b[raw:], bytes.Repeat([]byte{byte(i + 1)}, 0x10))
	}
	return b
}

// TestWriteFakeStubs writes UKIs of stubs with PE32 and PE32+ headers,
// whose sections have gaps between them and a symbol table after them:
// the gaps and the symbol table are gone, the sections' data kept.
func TestWriteFakeStubs(t *testing.T) {
	for _, tc := range []struct {
		name string
		stub fakeStub
	}{
		{"PE32+", fakeStub{sections: 3, headers: 0x400}},
		{"PE32", fakeStub{pe32: true, sections: 3, headers: 0x400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := tc.stub.bytes()
			sections := []Section{Bytes(Linux, random(5000)), CmdlineSection(""), Bytes(Initrd, random(513))}
			img := writeUKI(t, stub, sections)
			f, err := pe.NewFile(bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			sf, _ := pe.NewFile(bytes.NewReader(stub))
			if f.PointerToSymbolTable != 0 || f.NumberOfSymbols != 0 || f.Characteristics&localSymsStripped == 0 {
				t.Errorf("symbol table %#x (%d), characteristics %#x", f.PointerToSymbolTable, f.NumberOfSymbols, f.Characteristics)
			}
			checkLayout(t, f, int64(len(img)), len(sf.Sections))
			checkContents(t, img, sf, f, sections)
			if got := f.Sections[3].VirtualAddress; got != 0x4000 {
				t.Errorf("the first added section at %#x, want 0x4000", got)
			}
		})
	}
}
