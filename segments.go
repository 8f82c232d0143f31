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
	"github.com/mkinitrd-ng/mkinitrd-ng/segcache"
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
	end     cpiogen.State   // the archive's state before the trailer's segment
	layout  segcache.Key    // a hash of its headers, with a cache (see keeper)
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
// With a fingerprint, each segment's layout is hashed for the cache.
// Headers that cpiogen rejects are reported here, before anything is
// written.
func (a *archiver) plan(entries iter.Seq[*resolve.Entry], size int64, fingerprint string) ([]segment, error) {
	hl := &layoutHash{fingerprint: fingerprint}
	hl.reset()
	layout := a.newWriter(hl)
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
			segs = append(segs, segment{kind: records, entries: packer.Packed(), size: n, layout: hl.reset()})
			start, held = layout.Offset(), 0
		}
	}
	if held > 0 {
		segs = append(segs, segment{kind: records, entries: packer.Packed(), size: layout.Offset() - start, layout: hl.reset()})
	}
	end := layout.State()
	if err := layout.Close(); err != nil {
		return nil, err
	}
	return append(segs, segment{kind: trailer, size: layout.Offset() - end.Offset(), end: end, layout: hl.reset()}), nil
}

// layoutHash hashes the layout of each segment in turn; without a
// fingerprint it discards it.
type layoutHash struct {
	fingerprint string
	h           *segcache.Hash
}

func (l *layoutHash) Write(p []byte) (int, error) {
	if l.h != nil {
		l.h.Write(p)
	}
	return len(p), nil
}

// reset returns the hash of the layout so far and starts the next.
func (l *layoutHash) reset() segcache.Key {
	var k segcache.Key
	if l.fingerprint == "" {
		return k
	}
	if l.h != nil {
		k = l.h.Sum()
	}
	l.h = segcache.NewHash(segcache.KindLayout, l.fingerprint)
	return k
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

// writeSegments writes the planned segments into w, each by a worker of
// its own: compressed, or copied from the cache when keep holds it (nil:
// no cache). It returns the archive's length.
func (a *archiver) writeSegments(ctx context.Context, w io.Writer, segs []segment, comp compressors.Compressor, opts compressors.SegmentOptions, keep *keeper) (int64, error) {
	var length int64
	for _, s := range segs {
		length += s.size
	}
	sw := &segmentWriter{a: a, ctx: ctx}
	// Buffered so that headers and padding do not cost a system call
	// each on a compressor's pipe; pooled, as a large tree has hundreds
	// of segments.
	sw.bufs.New = func() any { return bufio.NewWriterSize(nil, 64<<10) }
	err := compressors.WriteParts(w, comp, opts, len(segs), func(i int, p *compressors.Part) error {
		if keep != nil {
			return keep.fill(sw, segs[i], p)
		}
		zw, err := p.Compress(nil)
		if err != nil {
			return err
		}
		return sw.write(zw, segs[i])
	})
	return length, err
}

// segmentWriter writes segments' records through buffers.
type segmentWriter struct {
	a    *archiver
	ctx  context.Context
	bufs sync.Pool // of *bufio.Writer
}

// write writes the records of s to w, buffered; an error of w's is
// returned as it is, without the entry it came in.
func (sw *segmentWriter) write(w io.Writer, s segment) error {
	bw := sw.bufs.Get().(*bufio.Writer)
	defer sw.bufs.Put(bw)
	sk := &sink.Writer{W: w}
	bw.Reset(sk)
	err := sw.a.writeSegment(sw.ctx, bw, s)
	if err == nil {
		err = bw.Flush()
	}
	return sk.Own(err)
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
