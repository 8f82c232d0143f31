package mkinitrd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/sink"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// segment is one independently compressed part of the main archive,
// planned before any of it is written. A segment of records holds
// entries, whose records depend on nothing before them (see inodes), so
// that each compressor worker writes its own segment, reading its own
// files, and a segment whose entries are unchanged is the same bytes in
// the next build. The archive ends with a segment of its own, the
// trailer, so that what pads the archive to 512 bytes changes no other
// segment.
type segment struct {
	kind    segmentKind
	entries *resolve.Packed // its records' entries; nil for the trailer
	size    int64           // its bytes
	end     cpiogen.State   // the archive's state after the trailer's segment
}

// segmentKind says what a segment holds.
type segmentKind uint8

const (
	records segmentKind = iota // entries, compressed
	trailer                    // the trailer and the archive's padding, compressed
)

func (k segmentKind) String() string {
	switch k {
	case records:
		return "records"
	case trailer:
		return "trailer"
	}
	return fmt.Sprintf("segmentKind(%d)", uint8(k))
}

// cuts chooses where segments end, from the entries themselves rather
// than at fixed offsets: after an entry whose path hash falls below a
// threshold that grows with the entry's size, once the segment holds
// min bytes, or after the entry that takes it to max bytes. Each byte
// then ends a segment with about the same chance, so that segments
// average min+scale bytes, and an entry added or removed moves only the
// cut of its own segment, at most merging it with the next: the cuts
// after it are where they were.
type cuts struct{ min, scale, max int64 }

// newCuts returns the cuts of segments that average size bytes.
func newCuts(size int64) cuts {
	return cuts{min: size / 2, scale: max(size-size/2, 1), max: 4 * size}
}

// after reports whether a segment of n bytes ends after the entry at
// path, of size bytes.
func (c cuts) after(path string, size, n int64) bool {
	switch {
	case n < c.min:
		return false
	case n >= c.max || size >= c.scale:
		return true
	}
	// A chance of size/scale: size < scale, so the threshold fits.
	return pathHash(path, cutSalt) < uint64(size)*(^uint64(0)/uint64(c.scale))
}

// cutSalt makes the hash that chooses cuts another than the inode
// numbers' hash.
const cutSalt = 1 << 63

// plan lays the archive of entries out without reading a file and cuts
// it into segments that average size bytes (see cuts), and the trailer's.
// Headers that cpiogen rejects are reported here, before anything is
// written.
func (a *archiver) plan(entries iter.Seq[*resolve.Entry], size int64) ([]segment, error) {
	layout := a.newWriter(io.Discard)
	c := newCuts(size)
	var segs []segment
	var packer resolve.Packer
	var start, held int64
	for e := range entries {
		before := layout.Offset()
		if err := a.layout(layout, e); err != nil {
			return nil, err
		}
		packer.Add(e)
		held++
		if n := layout.Offset() - start; c.after(e.Path, layout.Offset()-before, n) {
			segs = append(segs, segment{kind: records, entries: packer.Packed(), size: n})
			start, held = layout.Offset(), 0
		}
	}
	if held > 0 {
		segs = append(segs, segment{kind: records, entries: packer.Packed(), size: layout.Offset() - start})
	}
	end := layout.State()
	if err := layout.Close(); err != nil {
		return nil, err
	}
	return append(segs, segment{kind: trailer, size: layout.Offset() - end.Offset(), end: end}), nil
}

// layout runs e's header through the layout Writer lw, skipping its data.
func (a *archiver) layout(lw *cpiogen.Writer, e *resolve.Entry) error {
	h, err := a.header(e)
	if err != nil {
		return err
	}
	if err := lw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	return lw.Skip()
}

// writeSegments compresses the planned segments into w, each written by
// its compressor's worker, and returns the archive's length.
func (a *archiver) writeSegments(ctx context.Context, w io.Writer, segs []segment, comp compressors.Compressor, opts compressors.SegmentOptions) (int64, error) {
	// Buffered so that headers and padding do not cost a system call
	// each on a compressor's pipe; pooled, as a large tree has hundreds
	// of segments.
	bufs := sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	var length int64
	for _, s := range segs {
		length += s.size
	}
	err := compressors.WriteSegments(w, comp, opts, len(segs), func(i int, zw io.Writer) error {
		bw := bufs.Get().(*bufio.Writer)
		defer bufs.Put(bw)
		s := &sink.Writer{W: zw}
		bw.Reset(s)
		err := a.writeSegment(ctx, bw, segs[i])
		if err == nil {
			err = bw.Flush()
		}
		return s.Own(err)
	})
	return length, err
}

// writeSegment writes a segment's records to w.
func (a *archiver) writeSegment(ctx context.Context, w io.Writer, s segment) error {
	if s.kind == trailer {
		return cpiogen.NewWriterAt(w, s.end).Close()
	}
	cw := a.newWriter(w)
	for e := range s.entries.All() {
		if err := a.writeEntry(ctx, cw, e); err != nil {
			return err
		}
	}
	return nil
}

// unpackSegments returns the entries of every segment, in order.
func unpackSegments(segs []segment) []resolve.Entry {
	n := 0
	for _, s := range segs {
		if s.entries != nil {
			n += s.entries.Len()
		}
	}
	entries := make([]resolve.Entry, 0, n)
	for _, s := range segs {
		if s.entries == nil {
			continue
		}
		for e := range s.entries.All() {
			entries = append(entries, *e)
		}
	}
	return entries
}
