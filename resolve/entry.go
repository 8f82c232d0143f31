package resolve

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// Kind is the type of an archive entry.
type Kind int

// The kinds of entries an initrd holds.
const (
	File Kind = iota
	Dir
	Symlink
	CharDev
	BlockDev
	FIFO
	Socket
)

var kindNames = [...]string{"file", "dir", "symlink", "char", "block", "fifo", "socket"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Entry is one path of the initrd: plain data, decided before any byte
// of the archive is written.
type Entry struct {
	Path string // absolute path inside the initrd
	Kind Kind
	// Source is the path inside the root whose content a File has; empty
	// when Data holds the content.
	Source string
	Data   []byte // inline content of a File with no Source
	Size   int64  // size of a File's content, as seen when resolved
	Mode   fs.FileMode
	UID    uint32
	GID    uint32
	// LinkTarget is a Symlink's text.
	LinkTarget string
	// Major and Minor number a device.
	Major, Minor uint32
	// Decompress says the content is Source decoded from the compression
	// format its magic names (a .ko.xz module stored as .ko); Size is the
	// decoded size.
	Decompress bool
	// HardLink groups Files that share one inode in the root
	// ("dev:ino"); empty when the source has one name.
	HardLink string
	// Machine is the machine of an ELF executable or shared object
	// (elfdeps.CodeMachine), elf.EM_NONE for any other content: a
	// compressor may filter machine code apart.
	Machine elf.Machine
	// Why says what pulled the entry in; From is the entry or manifest
	// item that did, so a chain can be followed back ("" for the manifest).
	Why  string
	From string
}

// Closure is the ordered list of entries of an initrd.
type Closure struct {
	Entries  []Entry
	Warnings []string
	// Early is what the image holds before the main archive, in order:
	// the segments the kernel unpacks first, uncompressed. Resolve leaves
	// it empty; mkinitrd.Resolve and mkinitrd.Build fill it in.
	Early []EarlySegment
}

// EarlySegment is an uncompressed segment written before the main
// archive, where the kernel's early loaders look: a cpio archive of
// Entries, written in their order (the CPU microcode), or an Archive
// copied as it is.
type EarlySegment struct {
	Entries []Entry
	// Archive is the path inside the root of an archive the manifest
	// prepends; Size is its size, as seen when resolved.
	Archive string
	Size    int64
}

// PackedClosure is a Closure whose entries are packed (see Packed), in
// path order, for a build that only reads them in order.
type PackedClosure struct {
	Entries  *Packed
	Warnings []string
}

// Lookup returns the entry at path p, if any: the main archive's, which
// the kernel unpacks last, else an early segment's.
func (c *Closure) Lookup(p string) (*Entry, bool) {
	i := sort.Search(len(c.Entries), func(i int) bool { return c.Entries[i].Path >= p })
	if i < len(c.Entries) && c.Entries[i].Path == p {
		return &c.Entries[i], true
	}
	for _, s := range c.Early {
		for i := range s.Entries {
			if s.Entries[i].Path == p {
				return &s.Entries[i], true
			}
		}
	}
	return nil, false
}

// Chain returns the reasons that pulled p in, from p back to the
// manifest: "needed by /usr/bin/foo", "symlink /lib", ...
func (c *Closure) Chain(p string) []string {
	var out []string
	seen := map[string]bool{}
	for p != "" && !seen[p] {
		seen[p] = true
		e, ok := c.Lookup(p)
		if !ok {
			break
		}
		out = append(out, e.Path+": "+e.Why)
		p = e.From
	}
	return out
}

// String renders an entry as one line, as --dry-run prints it.
func (e *Entry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %04o %d:%d %s", e.Kind, UnixPerm(e.Mode), e.UID, e.GID, e.Path)
	switch e.Kind {
	case Symlink:
		fmt.Fprintf(&b, " -> %s", e.LinkTarget)
	case CharDev, BlockDev:
		fmt.Fprintf(&b, " %d:%d", e.Major, e.Minor)
	case File:
		if e.Source != "" && e.Source != e.Path {
			fmt.Fprintf(&b, " (from %s)", e.Source)
		}
	}
	return b.String()
}

// FileMode returns the entry's mode with the type bits of its kind, as
// fs.FileInfo.Mode would give it.
func (e *Entry) FileMode() fs.FileMode {
	m := e.Mode &^ fs.ModeType
	switch e.Kind {
	case Dir:
		m |= fs.ModeDir
	case Symlink:
		m |= fs.ModeSymlink
	case CharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case BlockDev:
		m |= fs.ModeDevice
	case FIFO:
		m |= fs.ModeNamedPipe
	case Socket:
		m |= fs.ModeSocket
	}
	return m
}

// UnixPerm returns the permission bits of m as in st_mode, with setuid
// (04000), setgid (02000) and sticky (01000).
func UnixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
