package uki

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelVersion reads the version of Debian's kernel, which its file
// name says, and refuses what is not a bzImage with an EFI stub.
func TestKernelVersion(t *testing.T) {
	image := kernelImage(t)
	kernel := readFile(t, image, "linux-image-amd64")
	got, err := KernelVersion(bytes.NewReader(kernel))
	if want := strings.TrimPrefix(filepath.Base(image), "vmlinuz-"); err != nil || got != want {
		t.Fatalf("KernelVersion: %q, %v; want %q", got, err, want)
	}
	patch := func(off int, b ...byte) []byte {
		k := bytes.Clone(kernel)
		copy(k[off:], b)
		return k
	}
	ptr := int(binary.LittleEndian.Uint16(kernel[kernelVersionOffset:])) + 0x200
	for _, tc := range []struct {
		name   string
		kernel []byte
		want   string
	}{
		{"empty", nil, "reading the setup header"},
		{"the stub", readFile(t, debianStub, "systemd-boot-efi"), "no setup header"},
		{"no HdrS", patch(headerMagicOffset, 'X'), "no setup header"},
		{"protocol 1.x", patch(protocolOffset, 0, 1), "boot protocol 0x100"},
		{"no version pointer", patch(kernelVersionOffset, 0, 0), "no kernel_version"},
		{"pointer past the end", kernel[:ptr], "reading the version string"},
		{"empty version", patch(ptr, 0), "is not a kernel version"},
		{"version with a slash", patch(ptr, '.', '.', '/'), "is not a kernel version"},
		{"not PE", patch(0, 'X'), "no EFI stub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := KernelVersion(bytes.NewReader(tc.kernel))
			if !errors.Is(err, ErrNotBzImage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %v saying %q", err, ErrNotBzImage, tc.want)
			}
		})
	}
}

// TestReadInitrd reads a UKI's initrd back, and says no to what has none.
func TestReadInitrd(t *testing.T) {
	stub := readFile(t, debianStub, "systemd-boot-efi")
	initrd := random(4097)
	img := writeUKI(t, stub, []Section{Bytes(Linux, []byte("k")), CmdlineSection("x"), Bytes(Initrd, initrd)})
	r, ok := ReadInitrd(bytes.NewReader(img))
	if !ok {
		t.Fatal("ReadInitrd of a UKI: not ok")
	}
	got := make([]byte, r.Size()+1)
	if n, _ := r.ReadAt(got, 0); !bytes.Equal(got[:n], initrd) {
		t.Errorf("read %d bytes, not the %d of the initrd", n, len(initrd))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"cpio", []byte("070701")},
		{"MZ but not PE", []byte("MZ not really")},
		{"PE without .initrd", stub},
		{"UKI without .initrd", writeUKI(t, stub, []Section{Bytes(Linux, []byte("k")), CmdlineSection("x")})},
	} {
		if _, ok := ReadInitrd(bytes.NewReader(tc.data)); ok {
			t.Errorf("%s: ok", tc.name)
		}
	}
}
