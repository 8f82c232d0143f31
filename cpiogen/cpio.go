// Package cpiogen writes and reads "newc" cpio archives (magic 070701, and
// 070702 with data checksums), the only archive format the Linux kernel
// unpacks into an initramfs.
//
// It is our own rather than a cpio library's because an initramfs needs
// control those lack: the checksum format chosen per writer, device
// numbers in rdev, a refusal of sizes of 4 GiB and more, inode numbers that
// never make the kernel hard-link unrelated entries, and the link counts
// the kernel expects of directories and symlinks.
//
// The layout and numbering follow the kernel's usr/gen_init_cpio exactly
// (inodes from 721, device fields 3:1, uppercase hex, symlink data with a
// trailing NUL, a trailer padded to 512 bytes), so that an archive built
// from a gen_init_cpio spec is byte-identical to the kernel tool's output.
// The API is modelled on archive/tar.
package cpiogen

import (
	"errors"
	"fmt"
	"hash"
	"io/fs"
)

// File type bits of Header.Mode (the S_IF* values of st_mode).
const (
	TypeMask    uint32 = 0o170000 // S_IFMT: all type bits
	TypeSocket  uint32 = 0o140000 // S_IFSOCK
	TypeSymlink uint32 = 0o120000 // S_IFLNK
	TypeReg     uint32 = 0o100000 // S_IFREG
	TypeBlock   uint32 = 0o060000 // S_IFBLK
	TypeDir     uint32 = 0o040000 // S_IFDIR
	TypeChar    uint32 = 0o020000 // S_IFCHR
	TypeFIFO    uint32 = 0o010000 // S_IFIFO
)

// Permission bits of Header.Mode beyond rwxrwxrwx.
const (
	ModeSetuid uint32 = 0o4000
	ModeSetgid uint32 = 0o2000
	ModeSticky uint32 = 0o1000
	ModePerm   uint32 = 0o7777 // every bit that is not a type bit
)

const (
	// HeaderSize is the length of a newc header: a 6-byte magic and 13
	// fields of 8 hex digits.
	HeaderSize = 6 + 13*8

	// PathMax is the kernel's PATH_MAX. The kernel skips records whose
	// namesize (which counts the NUL) or symlink data is larger.
	PathMax = 4096

	// MaxMajor and MaxMinor are the largest device numbers Linux has: a
	// 12-bit major and a 20-bit minor (MAJOR and MINOR of its dev_t).
	MaxMajor = 1<<12 - 1
	MaxMinor = 1<<20 - 1

	// NameMax is the kernel's NAME_MAX: the longest path component it
	// creates when it unpacks an archive.
	NameMax = 255

	// MaxSize is the largest data size a newc header can hold.
	MaxSize = 1<<32 - 1

	// Trailer is the name of the record that ends an archive.
	Trailer = "TRAILER!!!"

	magicNewc  = "070701"
	magicCheck = "070702"

	// firstIno, devMajor and devMinor are gen_init_cpio's numbering.
	firstIno = 721
	devMajor = 3
	devMinor = 1
)

// Errors returned (wrapped, with the entry name or offset) by Writer and
// Reader. Test for them with errors.Is.
var (
	ErrWriteTooLong    = errors.New("cpiogen: write beyond the entry's size")
	ErrIncomplete      = errors.New("cpiogen: entry data incomplete")
	ErrWriteAfterClose = errors.New("cpiogen: write after close")
	ErrFileTooLarge    = errors.New("cpiogen: file too large for newc")
	ErrChecksum        = errors.New("cpiogen: data checksum mismatch")
	ErrHeader          = errors.New("cpiogen: invalid header")
	ErrFormat          = errors.New("cpiogen: malformed archive")
)

// Header is one newc record's metadata.
type Header struct {
	Name     string // path inside the archive, without leading "/" ("usr/bin/sh"); "." for the root dir is allowed
	Mode     uint32 // full st_mode: a Type* value | permission bits
	UID, GID uint32
	NLink    uint32 // 0 = default: 2 for directories, 1 otherwise
	MTime    int64  // seconds since the epoch; must fit uint32
	Size     int64  // data size for regular files; for symlinks set by the writer from Linkname
	Linkname string // symlink target (the record's data)

	RDevMajor, RDevMinor uint32 // for char/block devices

	// LinkKey groups hard links: entries with equal non-empty LinkKey
	// share one inode number. Every name of the group must carry the same
	// NLink (>= 2, the kernel links only such entries); usually only one
	// of them (gen_init_cpio: the last) has data, the others Size 0.
	// The Reader sets it to "major:minor:ino" for entries the kernel
	// would hard-link.
	LinkKey string

	// Check is the 070702 checksum: the 32-bit sum of every data byte
	// (see NewChecksum). A Writer with checksums on needs it up front,
	// because the header precedes the data, and fails the entry if the
	// data written does not add up to it.
	Check uint32

	Ino                uint32 // set by the writer unless WithGivenInodes (read back by the Reader)
	DevMajor, DevMinor uint32 // set by the writer (read back by the Reader)
}

// Type returns the file type bits of h.Mode (one of the Type* constants for
// a valid header).
func (h *Header) Type() uint32 { return h.Mode & TypeMask }

// FileMode converts h.Mode to an fs.FileMode. Type bits that are not a
// known file type give fs.ModeIrregular.
func (h *Header) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	if h.Mode&ModeSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&ModeSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&ModeSticky != 0 {
		m |= fs.ModeSticky
	}
	switch h.Type() {
	case TypeReg:
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlock:
		m |= fs.ModeDevice
	case TypeFIFO:
		m |= fs.ModeNamedPipe
	case TypeSocket:
		m |= fs.ModeSocket
	default:
		m |= fs.ModeIrregular
	}
	return m
}

// ModeFromFileMode converts an fs.FileMode to a newc st_mode (type bits and
// permission bits). It fails for fs.ModeIrregular and for combinations that
// name no single file type, which have no st_mode equivalent.
func ModeFromFileMode(fm fs.FileMode) (uint32, error) {
	m := uint32(fm.Perm())
	if fm&fs.ModeSetuid != 0 {
		m |= ModeSetuid
	}
	if fm&fs.ModeSetgid != 0 {
		m |= ModeSetgid
	}
	if fm&fs.ModeSticky != 0 {
		m |= ModeSticky
	}
	switch fm.Type() {
	case 0:
		m |= TypeReg
	case fs.ModeDir:
		m |= TypeDir
	case fs.ModeSymlink:
		m |= TypeSymlink
	case fs.ModeDevice | fs.ModeCharDevice:
		m |= TypeChar
	case fs.ModeDevice:
		m |= TypeBlock
	case fs.ModeNamedPipe:
		m |= TypeFIFO
	case fs.ModeSocket:
		m |= TypeSocket
	default:
		return 0, fmt.Errorf("cpiogen: file mode %v has no cpio equivalent", fm)
	}
	return m, nil
}

// typeName names a file type for error messages.
func typeName(t uint32) string {
	switch t {
	case TypeReg:
		return "regular file"
	case TypeDir:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeChar:
		return "character device"
	case TypeBlock:
		return "block device"
	case TypeFIFO:
		return "fifo"
	case TypeSocket:
		return "socket"
	}
	return fmt.Sprintf("unknown type %#o", t)
}

// checksum is the 070702 checksum: the byte sum of the data modulo 2^32
// (what gen_init_cpio -c computes and the kernel and GNU cpio verify).
type checksum uint32

// NewChecksum returns a hash.Hash32 computing the 070702 data checksum,
// for filling Header.Check before the data is written.
func NewChecksum() hash.Hash32 { return new(checksum) }

func (c *checksum) Write(p []byte) (int, error) {
	*c = checksum(sumBytes(uint32(*c), p))
	return len(p), nil
}

func (c *checksum) Sum(b []byte) []byte {
	v := uint32(*c)
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (c *checksum) Sum32() uint32  { return uint32(*c) }
func (c *checksum) Reset()         { *c = 0 }
func (c *checksum) Size() int      { return 4 }
func (c *checksum) BlockSize() int { return 1 }

func sumBytes(s uint32, p []byte) uint32 {
	for _, b := range p {
		s += uint32(b)
	}
	return s
}

// pad4 returns how many bytes bring n to a multiple of 4.
func pad4(n int64) int64 { return (4 - n&3) & 3 }
