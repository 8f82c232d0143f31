package uki

import (
	"bytes"
	"crypto/rand"
	"debug/pe"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// debianStub is the stub of Debian 12's systemd-boot-efi.
const debianStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

func readFile(t *testing.T, name, pkg string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v: install %s (make deps)", err, pkg)
	}
	return b
}

// kernelImage returns the newest installed Debian kernel image.
func kernelImage(t *testing.T) string {
	t.Helper()
	images, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(images) == 0 {
		t.Fatal("no /boot/vmlinuz-*: install linux-image-amd64 (make deps)")
	}
	sort.Strings(images)
	return images[len(images)-1]
}

// random returns n random bytes: data that no layout bug can pass for
// another section's.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testSections are the sections of a UKI of the Debian kernel, with
// sizes that are not multiples of anything.
func testSections(t *testing.T) []Section {
	t.Helper()
	return []Section{
		Bytes(Linux, readFile(t, kernelImage(t), "linux-image-amd64")),
		Bytes(Initrd, random(100_003)),
		Bytes(OSRel, []byte("ID=debian\nVERSION_ID=12\n")),
		Bytes(Uname, []byte("6.1.0-test-amd64")),
		CmdlineSection("root=/dev/vda console=ttyS0"),
	}
}

func writeUKI(t *testing.T, stub []byte, sections []Section) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := Write(&buf, bytes.NewReader(stub), sections)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("Write returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// TestChecksum checks the checksum against the ones the toolchains that
// built Debian's EFI binaries wrote, of files of odd and even lengths,
// fed in pieces of every parity.
func TestChecksum(t *testing.T) {
	for _, tc := range []struct{ file, pkg string }{
		{debianStub, "systemd-boot-efi"},
		{"/usr/lib/systemd/boot/efi/systemd-bootx64.efi", "systemd-boot-efi"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			data := readFile(t, tc.file, tc.pkg)
			off := int(binary.LittleEndian.Uint32(data[0x3c:])) + coffSize + optCheckSum
			want := binary.LittleEndian.Uint32(data[off:])
			if want == 0 {
				t.Skip("no checksum in the file")
			}
			zeroed := bytes.Clone(data)
			clear(zeroed[off : off+4])
			for _, piece := range []int{1, 3, 4096, len(zeroed)} {
				var c checksum
				for b := zeroed; len(b) > 0; b = b[min(piece, len(b)):] {
					c.Write(b[:min(piece, len(b))])
				}
				if got := c.Sum(); got != want {
					t.Errorf("pieces of %d: checksum %#x, the file says %#x (length %d)", piece, got, want, len(data))
				}
			}
		})
	}
}

// TestWriteLayout writes a UKI of Debian's stub and reads it back with
// debug/pe: the sections in ukify's order after the stub's, each where
// the alignments put it, the file exactly the headers and the sections,
// the header fields updated, and each section's content as given.
func TestWriteLayout(t *testing.T) {
	stub := readFile(t, debianStub, "systemd-boot-efi")
	sections := testSections(t)
	img := writeUKI(t, stub, sections)
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	sf, _ := pe.NewFile(bytes.NewReader(stub))
	oh, soh := f.OptionalHeader.(*pe.OptionalHeader64), sf.OptionalHeader.(*pe.OptionalHeader64)
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	want := []string{".text", ".reloc", ".data", ".dynamic", ".rela", ".dynsym", ".sbat", ".sdmagic",
		".osrel", ".cmdline", ".uname", ".initrd", ".linux"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("sections %v, want %v", names, want)
	}
	checkLayout(t, f, int64(len(img)), len(sf.Sections))
	if int(f.NumberOfSections) != len(want) || f.PointerToSymbolTable != 0 || f.NumberOfSymbols != 0 {
		t.Errorf("NumberOfSections %d, symbol table %#x (%d)", f.NumberOfSections, f.PointerToSymbolTable, f.NumberOfSymbols)
	}
	last := f.Sections[len(f.Sections)-1]
	if want := uint32(alignUp(int64(last.VirtualAddress+last.VirtualSize), oh.SectionAlignment)); oh.SizeOfImage != want {
		t.Errorf("SizeOfImage %#x, want %#x", oh.SizeOfImage, want)
	}
	var data uint32
	for _, s := range f.Sections[8:12] {
		data += s.Size
	}
	if oh.SizeOfInitializedData != soh.SizeOfInitializedData+data || oh.SizeOfCode != soh.SizeOfCode+last.Size {
		t.Errorf("SizeOfInitializedData %#x SizeOfCode %#x, want %#x and %#x", oh.SizeOfInitializedData, oh.SizeOfCode,
			soh.SizeOfInitializedData+data, soh.SizeOfCode+last.Size)
	}
	checkContents(t, img, sf, f, sections)
	if got, want := oh.CheckSum, sumOf(img); got != want {
		t.Errorf("CheckSum %#x, want %#x", got, want)
	}
}

// checkLayout checks where f's sections are: virtual addresses rising and
// aligned to SectionAlignment (the stub's as they were), file offsets
// aligned to FileAlignment, each right after the one before from
// SizeOfHeaders, and the file ending with the last.
func checkLayout(t *testing.T, f *pe.File, size int64, stubSections int) {
	t.Helper()
	oh := headerOf(f)
	off, va := int64(oh.SizeOfHeaders), uint32(0)
	for i, s := range f.Sections {
		if s.VirtualAddress < va {
			t.Errorf("%s at %#x overlaps the section before it, which ends at %#x", s.Name, s.VirtualAddress, va)
		}
		if i >= stubSections && s.VirtualAddress%oh.SectionAlignment != 0 {
			t.Errorf("%s at %#x: not aligned to %#x", s.Name, s.VirtualAddress, oh.SectionAlignment)
		}
		va = s.VirtualAddress + s.VirtualSize
		if s.VirtualSize == 0 {
			va += s.Size // what a loader maps when no VirtualSize is given
		}
		if int64(s.Offset) != off || s.Size%oh.FileAlignment != 0 || s.Offset%oh.FileAlignment != 0 {
			t.Errorf("%s: %#x bytes at %#x, want at %#x, both aligned to %#x", s.Name, s.Size, s.Offset, off, oh.FileAlignment)
		}
		off = int64(s.Offset) + int64(s.Size)
	}
	if off != size {
		t.Errorf("the sections end at %#x, the file at %#x", off, size)
	}
}

// headerOf returns the fields of f's optional header the layout follows.
func headerOf(f *pe.File) pe.OptionalHeader32 {
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		return pe.OptionalHeader32{SectionAlignment: oh.SectionAlignment, FileAlignment: oh.FileAlignment,
			SizeOfHeaders: oh.SizeOfHeaders, SizeOfImage: oh.SizeOfImage, CheckSum: oh.CheckSum}
	case *pe.OptionalHeader32:
		return *oh
	}
	return pe.OptionalHeader32{}
}

// checkContents checks that the stub's sections hold what they held and
// the added ones what was given, padding aside.
func checkContents(t *testing.T, img []byte, stub, f *pe.File, sections []Section) {
	t.Helper()
	for i, s := range stub.Sections {
		got, _ := f.Sections[i].Data()
		want, _ := s.Data()
		if !bytes.Equal(got[:len(want)], want) {
			t.Errorf("stub section %s changed", s.Name)
		}
	}
	for _, s := range sections {
		r, err := ReadSection(bytes.NewReader(img), s.Kind)
		if err != nil {
			t.Fatal(err)
		}
		got, want := make([]byte, r.Size()), make([]byte, s.Data.Size())
		r.ReadAt(got, 0)
		s.Data.ReadAt(want, 0)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: %d bytes read back differ from the %d written", s.Kind, len(got), len(want))
		}
	}
}

// sumOf computes img's checksum with its CheckSum field as zero.
func sumOf(img []byte) uint32 {
	off := int(binary.LittleEndian.Uint32(img[0x3c:])) + coffSize + optCheckSum
	var c checksum
	c.Write(img[:off])
	c.Write(make([]byte, 4))
	c.Write(img[off+4:])
	return c.Sum()
}

// TestWriteReproducible writes the same sections twice, given in other
// orders: the bytes are the same.
func TestWriteReproducible(t *testing.T) {
	stub := readFile(t, debianStub, "systemd-boot-efi")
	sections := testSections(t)
	first := writeUKI(t, stub, sections)
	reversed := make([]Section, len(sections))
	for i, s := range sections {
		reversed[len(sections)-1-i] = s
	}
	if second := writeUKI(t, stub, reversed); !bytes.Equal(first, second) {
		t.Fatal("two writes of the same sections differ")
	}
}

// TestWriteTools has binutils' objdump and sbsigntool's sbverify read a
// UKI: objdump lists the sections in order, and sbverify finds no gap
// between them.
func TestWriteTools(t *testing.T) {
	stub := readFile(t, debianStub, "systemd-boot-efi")
	p := filepath.Join(t.TempDir(), "uki.efi")
	if err := os.WriteFile(p, writeUKI(t, stub, testSections(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("objdump", "-h", p).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[1], ".") {
			names = append(names, f[1])
		}
	}
	if got := strings.Join(names, " "); !strings.HasSuffix(got, ".sdmagic .osrel .cmdline .uname .initrd .linux") {
		t.Errorf("objdump -h lists %s\n%s", got, out)
	}
	out, err = exec.Command("sbverify", "--list", p).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "No signature table present" {
		t.Errorf("sbverify --list: %v\n%s", err, out)
	}
}

// TestWriteErrors gives Write what does not make a UKI: each is an error
// of its kind, and nothing is written.
func TestWriteErrors(t *testing.T) {
	stub := readFile(t, debianStub, "systemd-boot-efi")
	kernel := Bytes(Linux, []byte("kernel"))
	cmdline := CmdlineSection("root=/dev/vda")
	uki := writeUKI(t, stub, []Section{kernel, cmdline})
	for _, tc := range []struct {
		name     string
		stub     []byte
		sections []Section
		want     error
		badStub  bool // CheckStub refuses the stub too
	}{
		{"stub not PE", []byte("#!/bin/sh\necho not a stub\n"), []Section{kernel, cmdline}, ErrNotPE, true},
		{"stub empty", nil, []Section{kernel, cmdline}, ErrNotPE, true},
		{"stub a UKI", uki, []Section{kernel, cmdline}, ErrSections, true},
		{"stub signed", signedStub(t, stub), []Section{kernel, cmdline}, ErrSigned, true},
		{"no cmdline", stub, []Section{kernel}, ErrSections, false},
		{"no kernel", stub, []Section{cmdline}, ErrSections, false},
		{"cmdline twice", stub, []Section{kernel, cmdline, cmdline}, ErrSections, false},
		{"empty section", stub, []Section{kernel, cmdline, Bytes(OSRel, nil)}, ErrSections, false},
		{"empty cmdline section", stub, []Section{kernel, Bytes(Cmdline, nil)}, ErrSections, false},
		{"unknown kind", stub, []Section{kernel, cmdline, Bytes(Kind(9), []byte("x"))}, ErrSections, false},
		{"no room", tinyStub(1), []Section{kernel, cmdline, Bytes(OSRel, []byte("x")), Bytes(Uname, []byte("v"))}, ErrNoRoom, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Write(&buf, bytes.NewReader(tc.stub), tc.sections)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written", buf.Len())
			}
			if err := CheckStub(bytes.NewReader(tc.stub)); (err != nil) != tc.badStub {
				t.Errorf("CheckStub: %v, want an error: %v", err, tc.badStub)
			}
		})
	}
}

// signedStub returns the stub signed with a throwaway key.
func signedStub(t *testing.T, stub []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	key, cert := newKey(t, dir, "stub")
	var buf bytes.Buffer
	if err := (Signer{Key: key, Cert: cert}).Sign(t.Context(), &buf, bytes.NewReader(stub)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newKey makes a self-signed RSA key and certificate with openssl.
func newKey(t *testing.T, dir, name string) (key, cert string) {
	t.Helper()
	key, cert = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pem")
	out, err := exec.Command("openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN="+name, "-keyout", key, "-out", cert).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return key, cert
}
