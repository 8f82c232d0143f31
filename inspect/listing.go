package inspect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// WriteList writes the paths of the entries r reads, one a line, in
// archive order, escaped as Escape does: the short listing of
// `mkinitrd-ng ls`. It writes each entry as it is read.
func WriteList(w io.Writer, r *Reader) error {
	bw := bufio.NewWriter(w)
	for {
		e, err := r.Next()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			bw.Flush()
			return err
		}
		bw.WriteString(Escape(e.Path))
		bw.WriteByte('\n')
	}
}

// WriteLongList writes a line per entry r reads in the style of ls -l:
// type and permissions, link count, owner, size or device number,
// segment, path and symlink target or hard-link group, names and
// targets escaped as Escape does. A summary line per segment, starting
// with "#", follows the entries: a segment's sizes are known only once
// it is read.
func WriteLongList(w io.Writer, r *Reader) error {
	bw := bufio.NewWriter(w)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			bw.Flush()
			return err
		}
		writeLong(bw, e)
	}
	for _, s := range r.Segments() {
		fmt.Fprintf(bw, "# %s\n", s.Describe())
	}
	return bw.Flush()
}

// writeLong writes e's line of a long listing.
func writeLong(bw *bufio.Writer, e *Entry) {
	size := strconv.FormatInt(e.Size, 10)
	if e.Type == TypeChar || e.Type == TypeBlock {
		size = fmt.Sprintf("%d,%d", e.Major, e.Minor)
	}
	fmt.Fprintf(bw, "%s %3d %5d %5d %10s  [%d] %s", e.ModeString(), e.NLink, e.UID, e.GID, size, e.Segment, Escape(e.Path))
	switch {
	case e.Type == TypeSymlink:
		bw.WriteString(" -> ")
		bw.WriteString(Escape(e.Link))
	case e.HardLink != "" && e.HardLink != e.Path:
		fmt.Fprintf(bw, " (hard link to %s)", Escape(e.HardLink))
	}
	bw.WriteByte('\n')
}

// WriteJSON writes the image r reads as JSON, byte for byte as
// json.Encoder with a two-space indent writes the Image that Read
// returns. The size and the segments come first and are known only at
// the end, so the entries are held until then, packed: a few times less
// memory than the Image.
func WriteJSON(w io.Writer, r *Reader) error {
	p, err := packAll(r)
	if err != nil {
		return err
	}
	segs, err := json.MarshalIndent(append([]Segment{}, r.Segments()...), "  ", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "{\n  \"size\": %d,\n  \"segments\": %s,\n  \"entries\": [", r.Size(), segs)
	for i, ref := range p.refs {
		b, err := json.MarshalIndent(p.entry(ref), "    ", "  ")
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(p.refs) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
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
	b := make([]byte, 1, 10)
	b[0] = typeLetter(e.Type)
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

// typeLetter is the letter of ls -l for an entry type.
func typeLetter(typ string) byte {
	switch typ {
	case TypeFile:
		return '-'
	case TypeDir:
		return 'd'
	case TypeSymlink:
		return 'l'
	case TypeChar:
		return 'c'
	case TypeBlock:
		return 'b'
	case TypeFIFO:
		return 'p'
	case TypeSocket:
		return 's'
	}
	return '?'
}
