// Package inspect reads initrds back, whoever made them, and compares
// them: it lists the entries of every segment of an image (uncompressed
// cpio, or compressed with gzip, zstd, xz with or without a BCJ filter,
// lzma, bzip2 or legacy lz4, in any order, as the kernel unpacks them),
// computes what changed between two images, and summarises a build for
// size tracking.
//
// Reading and comparing images builds on cpiogen and compressors, and on
// uki to read the initrd of a unified kernel image, and knows nothing of
// manifests: an Image is what the kernel would see, not what was asked
// for. A Reader reads an image's entries one at
// a time, so that listing an image or comparing two sorted by path
// takes memory that does not grow with their entries.
//
// Stats, the build summary, is the one part that knows of builds: it
// counts the entries of a resolve.Closure, what the build was asked
// for, and writes its file with internal/atomicfile, as the build
// writes its image.
package inspect

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// Image is the content of an initrd file as the kernel unpacks it.
type Image struct {
	// Size is the image's length in bytes (compressed, as stored).
	Size     int64     `json:"size"`
	Segments []Segment `json:"segments"`
	// Entries lists every record in archive order, trailers excluded. A
	// later record with the same path replaces an earlier one when the
	// kernel unpacks the image; Final gives the result.
	Entries []Entry `json:"entries"`
}

// Segment is one piece of an image: an uncompressed cpio archive, or a
// run of consecutive streams of one compression format (several gzip
// members or zstd frames made by a parallel compressor form one segment).
type Segment struct {
	Index  int    `json:"index"`
	Format string `json:"format"` // "cpio", "gzip", "zstd", "xz", "lzma", "bzip2", "lz4"
	Offset int64  `json:"offset"` // where it starts in the image
	// Size is its length in the image, not counting the zero padding
	// after it.
	Size int64 `json:"size"`
	// Streams counts the compressed streams (gzip members, zstd frames,
	// xz streams, ...); 1 for cpio, and for bzip2 and lz4, whose
	// decoders join streams without saying.
	Streams int `json:"streams"`
	// Uncompressed is the length of its cpio data.
	Uncompressed int64 `json:"uncompressed"`
	Entries      int   `json:"entries"`
	// Trailers counts the TRAILER!!! records; 0 is valid for all but the
	// last segment (the kernel continues reading entries in the next).
	Trailers int `json:"trailers"`
}

// Entry is one record of an image.
type Entry struct {
	Path string `json:"path"` // absolute: "/usr/bin/sh"; "/" for the root
	Type string `json:"type"` // file, dir, symlink, char, block, fifo, socket
	Mode Perm   `json:"mode"` // permission bits, with setuid, setgid and sticky
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	// Size is a file's content size (for hard links, that of the name
	// that carries the data) or a symlink's target length; 0 otherwise.
	Size  int64  `json:"size"`
	Link  string `json:"link,omitempty"`  // symlink target
	Major uint32 `json:"major,omitempty"` // device number, for char and block
	Minor uint32 `json:"minor,omitempty"`
	MTime int64  `json:"mtime"`
	NLink uint32 `json:"nlink"`
	// HardLink is the first name of the entry's hard-link group, for
	// every name of the group; empty for a file with one name.
	HardLink string `json:"hardlink,omitempty"`
	// SHA256 is the hex SHA-256 of a file's content (for hard links, the
	// group's content).
	SHA256 string `json:"sha256,omitempty"`
	// DataSize is the number of file data bytes the record itself
	// carries: Size, or 0 for a name of a hard-link group whose data is
	// on another name. Summing DataSize counts each content once.
	DataSize int64 `json:"data_size"`
	Segment  int   `json:"segment"` // index into Image.Segments
}

// Perm is a file's permission bits (st_mode & 07777). It is written in
// JSON as an octal string such as "0755", the way people read modes.
type Perm uint32

// String formats p as four octal digits.
func (p Perm) String() string { return fmt.Sprintf("%04o", uint32(p)) }

// MarshalJSON writes p as an octal string.
func (p Perm) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads an octal string.
func (p *Perm) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode: %w", err)
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("mode %q: not octal permission bits", s)
	}
	*p = Perm(v)
	return nil
}

// Entry types, as in Entry.Type.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeChar    = "char"
	TypeBlock   = "block"
	TypeFIFO    = "fifo"
	TypeSocket  = "socket"
)

func typeOf(mode uint32) string {
	switch mode & cpiogen.TypeMask {
	case cpiogen.TypeReg:
		return TypeFile
	case cpiogen.TypeDir:
		return TypeDir
	case cpiogen.TypeSymlink:
		return TypeSymlink
	case cpiogen.TypeChar:
		return TypeChar
	case cpiogen.TypeBlock:
		return TypeBlock
	case cpiogen.TypeFIFO:
		return TypeFIFO
	case cpiogen.TypeSocket:
		return TypeSocket
	}
	return fmt.Sprintf("unknown(%#o)", mode&cpiogen.TypeMask)
}

// ReadFile reads the image in the named file.
func ReadFile(name string) (*Image, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return img, nil
}

// Read reads a whole image into memory: a sequence of segments, each an
// uncompressed cpio archive or a compressed one recognised by its magic,
// with zero padding allowed between them, as the kernel's initramfs
// unpacker takes them. File data is hashed, not kept. Reader reads the
// entries one at a time instead.
func Read(r io.Reader) (*Image, error) {
	rd := NewReader(r)
	img := &Image{Segments: []Segment{}, Entries: []Entry{}}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		img.Entries = append(img.Entries, *e)
	}
	img.Segments = append(img.Segments, rd.Segments()...)
	img.Size = rd.Size()
	return img, nil
}

// cleanName turns an archive name ("usr/bin/sh", "./usr", ".") into an
// absolute path.
func cleanName(name string) string {
	return path.Clean("/" + strings.TrimPrefix(name, "./"))
}

// Final returns the entries the unpacked image ends up with: the last
// record of each path, in the order of first appearance.
func (img *Image) Final() []Entry {
	last := map[string]int{}
	for i, e := range img.Entries {
		last[e.Path] = i
	}
	out := make([]Entry, 0, len(last))
	seen := map[string]bool{}
	for _, e := range img.Entries {
		if seen[e.Path] {
			continue
		}
		seen[e.Path] = true
		out = append(out, img.Entries[last[e.Path]])
	}
	return out
}

// Uncompressed returns the total length of the image's cpio data.
func (img *Image) Uncompressed() int64 {
	var n int64
	for _, s := range img.Segments {
		n += s.Uncompressed
	}
	return n
}

// Formats returns the formats of the segments, in order ("cpio", "zstd").
func (img *Image) Formats() []string {
	out := make([]string, len(img.Segments))
	for i, s := range img.Segments {
		out[i] = s.Format
	}
	return out
}
