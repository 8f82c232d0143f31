// Package uki assembles and reads unified kernel images (UKI): one PE file
// that holds systemd's EFI stub, the kernel, the initrd, the kernel
// command line, os-release and the kernel version, and that firmware or
// systemd-boot boots as it is and Secure Boot verifies as one piece.
//
// The layout is the one of the UAPI group's "Unified Kernel Image"
// specification as systemd's ukify writes it: the stub's own sections
// first, then .osrel, .cmdline, .uname, .initrd and, last, .linux, each
// at the next virtual address after the section before it, aligned to the
// stub's SectionAlignment, and at the next file offset, aligned to its
// FileAlignment. The file holds the headers and the sections' data and
// nothing else, with no gap between them, so that every Authenticode
// hasher (sbsign, sbverify, the firmware, shim) walks the same bytes.
//
// Write is our own small PE writer: debug/pe reads PE files but cannot
// write them, and no maintained Go module that adds sections to a PE image
// is available to this project. It needs only to append sections to a
// stub, so it patches the stub's headers in place rather than model every
// PE structure.
package uki

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Errors of assembling and reading UKIs; the errors returned wrap them
// with what and where.
var (
	// ErrNotPE is the error of a stub that is not a PE image that can
	// take sections.
	ErrNotPE = errors.New("uki: not a PE image")
	// ErrSigned is the error of a stub that is already signed: a signature
	// would not cover the added sections.
	ErrSigned = errors.New("uki: the stub is signed")
	// ErrNoRoom is the error of a stub whose headers have no room for the
	// added section headers.
	ErrNoRoom = errors.New("uki: no room in the stub's headers for the added sections")
	// ErrNotBzImage is the error of a kernel that is not an x86 bzImage
	// with an EFI stub.
	ErrNotBzImage = errors.New("uki: not an x86 bzImage kernel with an EFI stub")
	// ErrSections is the error of a list of sections that does not make a
	// UKI: a missing .linux or .cmdline, one given twice, or an empty
	// .cmdline section.
	ErrSections = errors.New("uki: bad sections")
	// ErrTooLarge is the error of an image that PE's 32-bit sizes cannot
	// describe.
	ErrTooLarge = errors.New("uki: image of 4 GiB or more")
	// ErrChanged is the error of a section whose data changed while Write
	// read it.
	ErrChanged = errors.New("uki: a section's data changed while the image was written")
	// ErrSign is the error of a signing step that failed.
	ErrSign = errors.New("uki: signing failed")
)

// A Kind is one of the sections that Write adds to the stub. Kinds are
// ordered as ukify orders the sections, which is the order Write writes
// them in.
type Kind int

// The UKI sections, in the order of the file.
const (
	OSRel   Kind = iota // .osrel: the os-release file of the system booted
	Cmdline             // .cmdline: the kernel command line
	Uname               // .uname: the kernel version, as uname -r prints it
	Initrd              // .initrd: the initrd, its early archives first
	Linux               // .linux: the kernel image
	numKinds
)

var kindNames = [numKinds]string{".osrel", ".cmdline", ".uname", ".initrd", ".linux"}

// String returns the section's name, ".linux" for Linux.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// A Section is the content of one section that Write adds.
type Section struct {
	Kind Kind
	Data *io.SectionReader
}

// Bytes returns a section holding b.
func Bytes(k Kind, b []byte) Section {
	return Section{Kind: k, Data: io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))}
}

// CmdlineSection returns the .cmdline section of the command line s. An
// empty command line is one NUL byte: systemd-stub takes a .cmdline of
// size 0 for none at all and then lets the boot loader's arguments in,
// also under Secure Boot, while an explicitly empty command line is one
// that nothing may replace.
func CmdlineSection(s string) Section {
	if s == "" {
		return Bytes(Cmdline, []byte{0})
	}
	return Bytes(Cmdline, []byte(s))
}
