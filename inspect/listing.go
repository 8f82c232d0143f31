package inspect

import (
	"bufio"
	"fmt"
	"io"
)

// WriteList writes the paths of img's records, one a line, in archive
// order: the short listing of `mkinitrd-ng ls`.
func WriteList(w io.Writer, img *Image) error {
	bw := bufio.NewWriter(w)
	for i := range img.Entries {
		bw.WriteString(img.Entries[i].Path)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteLongList writes a summary line per segment (starting with "#")
// and a line per record in the style of ls -l: type and permissions,
// link count, owner, size or device number, segment, path and symlink
// target or hard-link group.
func WriteLongList(w io.Writer, img *Image) error {
	bw := bufio.NewWriter(w)
	for _, s := range img.Segments {
		fmt.Fprintf(bw, "# %s\n", s.Describe())
	}
	for i := range img.Entries {
		e := &img.Entries[i]
		size := fmt.Sprint(e.Size)
		if e.Type == TypeChar || e.Type == TypeBlock {
			size = fmt.Sprintf("%d,%d", e.Major, e.Minor)
		}
		fmt.Fprintf(bw, "%s %3d %5d %5d %10s  [%d] %s", e.ModeString(), e.NLink, e.UID, e.GID, size, e.Segment, e.Path)
		switch {
		case e.Type == TypeSymlink:
			fmt.Fprintf(bw, " -> %s", e.Link)
		case e.HardLink != "" && e.HardLink != e.Path:
			fmt.Fprintf(bw, " (hard link to %s)", e.HardLink)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Describe says what a segment is in one line.
func (s *Segment) Describe() string {
	if s.Format == "cpio" {
		return fmt.Sprintf("segment %d: cpio at offset %d: %d bytes, %d entries", s.Index, s.Offset, s.Size, s.Entries)
	}
	return fmt.Sprintf("segment %d: %s at offset %d: %d bytes (%d %s), %d bytes uncompressed, %d entries",
		s.Index, s.Format, s.Offset, s.Size, s.Streams, plural(s.Streams, "stream", "streams"), s.Uncompressed, s.Entries)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ModeString renders the type and permissions as ls -l does
// ("drwxr-xr-x", "-rwsr-xr-x", "crw-------").
func (e *Entry) ModeString() string {
	t := map[string]byte{TypeFile: '-', TypeDir: 'd', TypeSymlink: 'l', TypeChar: 'c',
		TypeBlock: 'b', TypeFIFO: 'p', TypeSocket: 's'}[e.Type]
	if t == 0 {
		t = '?'
	}
	b := []byte{t}
	m := uint32(e.Mode)
	for i, special := range [3]uint32{0o4000, 0o2000, 0o1000} {
		bits := m >> (6 - 3*i) & 7
		r, w, x := byte('-'), byte('-'), byte('-')
		if bits&4 != 0 {
			r = 'r'
		}
		if bits&2 != 0 {
			w = 'w'
		}
		set, unset := byte('s'), byte('S')
		if i == 2 {
			set, unset = 't', 'T'
		}
		switch {
		case m&special != 0 && bits&1 != 0:
			x = set
		case m&special != 0:
			x = unset
		case bits&1 != 0:
			x = 'x'
		}
		b = append(b, r, w, x)
	}
	return string(b)
}
