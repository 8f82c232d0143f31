package elfdeps

import (
	"debug/elf"
	"testing"
)

// TestCodeMachine: the machine of a header, for the kinds and byte
// orders of ELF files and for what is not one.
func TestCodeMachine(t *testing.T) {
	header := func(data byte, typ, machine [2]byte) []byte {
		h := make([]byte, 64)
		copy(h, elf.ELFMAG)
		h[elf.EI_CLASS], h[elf.EI_DATA] = byte(elf.ELFCLASS64), data
		copy(h[16:], typ[:])
		copy(h[18:], machine[:])
		return h
	}
	lsb, msb := byte(elf.ELFDATA2LSB), byte(elf.ELFDATA2MSB)
	tests := []struct {
		name string
		head []byte
		want elf.Machine
	}{
		{"x86-64 executable", header(lsb, [2]byte{2, 0}, [2]byte{62, 0}), elf.EM_X86_64},
		{"x86-64 shared object", header(lsb, [2]byte{3, 0}, [2]byte{62, 0}), elf.EM_X86_64},
		{"i386 executable", header(lsb, [2]byte{2, 0}, [2]byte{3, 0}), elf.EM_386},
		{"big-endian shared object", header(msb, [2]byte{0, 3}, [2]byte{0, 21}), elf.EM_PPC64},
		{"relocatable", header(lsb, [2]byte{1, 0}, [2]byte{62, 0}), elf.EM_NONE},
		{"core", header(lsb, [2]byte{4, 0}, [2]byte{62, 0}), elf.EM_NONE},
		{"bad byte order", header(7, [2]byte{2, 0}, [2]byte{62, 0}), elf.EM_NONE},
		{"short", header(lsb, [2]byte{2, 0}, [2]byte{62, 0})[:19], elf.EM_NONE},
		{"text", []byte("#!/bin/sh\necho hello world\n"), elf.EM_NONE},
	}
	for _, tt := range tests {
		if got := CodeMachine(tt.head); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
