// Package inspect reads initrds back, whoever made them, and compares
// them: it lists the entries of every segment of an image (uncompressed
// cpio, or compressed with gzip, zstd, xz, lzma, bzip2 or legacy lz4, in
// any order, as the kernel unpacks them), computes what changed between
// two images, and summarises a build for size tracking.
//
// It sits above cpiogen and compressors and knows nothing of manifests:
// an Image is what the kernel would see, not what was asked for.
package inspect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
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

// Read reads an image: a sequence of segments, each an uncompressed cpio
// archive or a compressed one recognised by its magic, with zero padding
// allowed between them, as the kernel's initramfs unpacker takes them.
// File data is hashed, not kept.
func Read(r io.Reader) (*Image, error) {
	rd := &reader{img: &Image{Segments: []Segment{}, Entries: []Entry{}}, src: newSource(r), links: map[string]int{}}
	if err := rd.read(); err != nil {
		return nil, err
	}
	rd.img.Size = rd.src.off
	rd.resolveLinks()
	return rd.img, nil
}

type reader struct {
	img *Image
	src *source
	// links maps a hard-link key (archive number and the kernel's
	// major:minor:ino) to the index of the group's first entry.
	links   map[string]int
	archive int   // TRAILER!!! records seen; the kernel forgets links at each
	group   []int // per entry: its hard-link group's first entry, or -1
	buf     []byte
}

func (rd *reader) read() error {
	for {
		if err := rd.src.skipZeros(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		start := rd.src.off
		head, _ := rd.src.Peek(compressors.DetectLen)
		format := compressors.Detect(head)
		seg := Segment{Index: len(rd.img.Segments), Format: format, Offset: start, Streams: 1}
		if format == "" {
			return fmt.Errorf("offset %d: no cpio or compressed data (bytes % x)", start, head)
		}
		where := func(err error) error {
			return fmt.Errorf("segment %d (%s at offset %d): %w", seg.Index, format, start, err)
		}
		if format == compressors.FormatCpio {
			// An uncompressed archive ends at the first input that is not
			// a record, usually a compressed segment after TRAILER!!!.
			end, err := rd.entries(&seg, rd.src, false)
			if err != nil {
				return where(err)
			}
			seg.Size = end - start
			seg.Uncompressed = seg.Size
		} else {
			run, err := newRun(rd.src, format)
			if err != nil {
				return where(err)
			}
			data := newSource(run)
			_, err = rd.entries(&seg, data, true)
			run.close()
			if err != nil {
				return where(err)
			}
			seg.Size = run.end - start
			seg.Streams = run.members
			seg.Uncompressed = data.off
			if format == compressors.FormatBzip2 || format == compressors.FormatLz4 {
				seg.Streams = 1
			}
		}
		rd.img.Segments = append(rd.img.Segments, seg)
	}
	return nil
}

// entries reads the records of one segment's cpio data. In a compressed
// segment every byte must belong to a record or be zero padding; an
// uncompressed one ends where the records do. It returns the offset in
// in just past the last record.
func (rd *reader) entries(seg *Segment, in *source, compressed bool) (end int64, err error) {
	end = in.off
	for {
		if err := in.skipZeros(); err == io.EOF {
			return end, nil
		} else if err != nil {
			return end, err
		}
		head, _ := in.Peek(6)
		if !isCpio(head) {
			if compressed {
				return end, fmt.Errorf("uncompressed offset %d: junk after the last record (bytes % x)", in.off, head)
			}
			return end, nil
		}
		start := in.off
		// A fresh cpiogen.Reader per record: a segment may end after any
		// record, with or without a trailer, and another format follow.
		cr := cpiogen.NewReader(in)
		h, err := cr.Next()
		if err == io.EOF {
			seg.Trailers++
			rd.archive++
			end = in.off
			continue
		}
		if err != nil {
			return end, fmt.Errorf("record at uncompressed offset %d: %w", start, err)
		}
		e := Entry{
			Path: cleanName(h.Name), Type: typeOf(h.Mode), Mode: Perm(h.Mode & cpiogen.ModePerm),
			UID: h.UID, GID: h.GID, MTime: h.MTime, NLink: h.NLink, Segment: seg.Index,
		}
		switch e.Type {
		case TypeFile:
			sum := sha256.New()
			if rd.buf == nil {
				rd.buf = make([]byte, 256<<10)
			}
			n, err := io.CopyBuffer(sum, cr, rd.buf)
			if err != nil {
				return end, fmt.Errorf("%s (record at uncompressed offset %d): %w", e.Path, start, err)
			}
			e.Size, e.DataSize, e.SHA256 = n, n, hex.EncodeToString(sum.Sum(nil))
		case TypeSymlink:
			e.Link = h.Linkname
			e.Size = int64(len(h.Linkname))
		case TypeChar, TypeBlock:
			e.Major, e.Minor = h.RDevMajor, h.RDevMinor
		}
		// The data padding, which the next Next would have skipped.
		if pad := (4 - h.Size&3) & 3; pad > 0 {
			var p [3]byte
			if _, err := io.ReadFull(in, p[:pad]); err != nil {
				return end, fmt.Errorf("%s: padding after the data: %w", e.Path, io.ErrUnexpectedEOF)
			}
		}
		group := -1
		if h.LinkKey != "" && e.Type == TypeFile {
			key := strconv.Itoa(rd.archive) + "/" + h.LinkKey
			first, ok := rd.links[key]
			if !ok {
				first = len(rd.img.Entries)
				rd.links[key] = first
			}
			group = first
			e.HardLink = e.Path
			if ok {
				e.HardLink = rd.img.Entries[first].Path
			}
		}
		rd.group = append(rd.group, group)
		rd.img.Entries = append(rd.img.Entries, e)
		seg.Entries++
		end = in.off
	}
}

// resolveLinks gives every name of a hard-link group the group's content:
// the kernel writes each name's data into the one shared inode, so the
// data usually sits on one name only (gen_init_cpio: the last).
func (rd *reader) resolveLinks() {
	entries := rd.img.Entries
	size := map[int]int{} // group (index of its first name) -> names
	data := map[int]int{} // group -> the last name carrying data
	for i, g := range rd.group {
		if g < 0 {
			continue
		}
		size[g]++
		if entries[i].DataSize > 0 {
			data[g] = i
		}
	}
	for i, g := range rd.group {
		e := &entries[i]
		switch {
		case g < 0:
		case size[g] < 2:
			e.HardLink = "" // a group of one is no group
		default:
			if d, ok := data[g]; ok {
				e.Size, e.SHA256 = entries[d].DataSize, entries[d].SHA256
			}
		}
	}
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
