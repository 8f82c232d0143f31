package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Offsets in an x86 bzImage's setup header (the kernel's
// Documentation/arch/x86/boot.rst).
const (
	bootFlagOffset      = 0x1fe // 0xAA55
	headerMagicOffset   = 0x202 // "HdrS"
	protocolOffset      = 0x206 // boot protocol version
	kernelVersionOffset = 0x20e // where the version string is, less 0x200
	maxVersionLen       = 256
)

// KernelVersion returns the version of the x86 bzImage r, as uname -r
// prints it ("6.1.0-18-amd64"). The boot protocol puts a pointer to the
// kernel's version string in the setup header (kernel_version, at 0x20E,
// counted from 0x200), so no decompression is needed; ukify and
// mkinitcpio read it there too. r must also be a PE image, the kernel's
// own EFI stub, which systemd-stub starts.
func KernelVersion(r io.ReaderAt) (string, error) {
	var h [0x210]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return "", fmt.Errorf("%w: reading the setup header: %v", ErrNotBzImage, err)
	}
	switch {
	case binary.LittleEndian.Uint16(h[bootFlagOffset:]) != 0xaa55 || string(h[headerMagicOffset:][:4]) != "HdrS":
		return "", fmt.Errorf("%w: no setup header (boot flag 0xAA55 and HdrS at %#x)", ErrNotBzImage, headerMagicOffset)
	case binary.LittleEndian.Uint16(h[protocolOffset:]) < 0x200:
		return "", fmt.Errorf("%w: boot protocol %#x is older than 2.00", ErrNotBzImage, binary.LittleEndian.Uint16(h[protocolOffset:]))
	}
	ptr := binary.LittleEndian.Uint16(h[kernelVersionOffset:])
	if ptr == 0 {
		return "", fmt.Errorf("%w: the setup header has no kernel_version", ErrNotBzImage)
	}
	buf := make([]byte, maxVersionLen)
	n, err := r.ReadAt(buf, int64(ptr)+0x200)
	if n == 0 {
		return "", fmt.Errorf("%w: reading the version string at %#x: %v", ErrNotBzImage, int(ptr)+0x200, err)
	}
	text, _, _ := bytes.Cut(buf[:n], []byte{0})
	version, _, _ := strings.Cut(string(text), " ")
	if !validVersion(version) {
		return "", fmt.Errorf("%w: the version string %q at %#x is not a kernel version", ErrNotBzImage, text, int(ptr)+0x200)
	}
	if _, err := pe.NewFile(r); err != nil {
		return "", fmt.Errorf("%w: no EFI stub: %v", ErrNotBzImage, err)
	}
	return version, nil
}

// validVersion reports whether v can be a kernel release: it names a
// directory under /lib/modules.
func validVersion(v string) bool {
	if v == "" || v == "." || v == ".." || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if c <= ' ' || c > '~' || c == '/' {
			return false
		}
	}
	return true
}
