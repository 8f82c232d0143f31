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
// planned before any of it is written: the state its cpiogen.Writer
// starts from, and its entries. Planning lets each compressor worker
// write its own segment, reading its own files, so that reading is as
// parallel as compressing.
type segment struct {
	start   cpiogen.State
	entries *resolve.Packed
}

// plan lays the archive of entries out without reading a file and cuts
// it at the first entry boundary after each size bytes, the cut
// compressors.NewSegmentedWriter makes. The last segment, which may have
// no entries, also carries the trailer. Headers that cpiogen rejects are
// reported here, before anything is written.
func (a *archiver) plan(entries iter.Seq[*resolve.Entry], size int64) ([]segment, error) {
	layout := cpiogen.NewWriter(io.Discard)
	start := layout.State()
	var segs []segment
	var packer resolve.Packer
	for e := range entries {
		h, err := header(e, a.mtime, a.links[e.HardLink])
		if err != nil {
			return nil, err
		}
		if err := layout.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Path, err)
		}
		if err := layout.Skip(); err != nil {
			return nil, err
		}
		packer.Add(e)
		if layout.Offset()-start.Offset() >= size {
			segs = append(segs, segment{start, packer.Packed()})
			start = layout.State()
		}
	}
	return append(segs, segment{start, packer.Packed()}), nil
}

// writeSegments compresses the planned segments into w, each written by
// its compressor's worker, and returns the archive's length.
func (a *archiver) writeSegments(ctx context.Context, w io.Writer, segs []segment, comp compressors.Compressor, opts compressors.SegmentOptions) (int64, error) {
	// Buffered so that headers and padding do not cost a system call
	// each on a compressor's pipe; pooled, as a large tree has hundreds
	// of segments.
	bufs := sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	var length int64
	err := compressors.WriteSegments(w, comp, opts, len(segs), func(i int, zw io.Writer) error {
		bw := bufs.Get().(*bufio.Writer)
		defer bufs.Put(bw)
		s := &sink.Writer{W: zw}
		bw.Reset(s)
		last := i == len(segs)-1
		n, err := a.writeSegment(ctx, bw, segs[i], last)
		if err == nil {
			err = bw.Flush()
		}
		if last {
			length = n
		}
		return s.Own(err)
	})
	return length, err
}

// writeSegment writes a segment's entries to w and, for the last one,
// the trailer. It returns the archive's offset at the segment's end.
func (a *archiver) writeSegment(ctx context.Context, w io.Writer, s segment, last bool) (int64, error) {
	cw := cpiogen.NewWriterAt(w, s.start)
	for e := range s.entries.All() {
		if err := a.writeEntry(ctx, cw, e); err != nil {
			return 0, err
		}
	}
	if last {
		if err := cw.Close(); err != nil {
			return 0, err
		}
	}
	return cw.Offset(), nil
}

// unpackSegments returns the entries of every segment, in order.
func unpackSegments(segs []segment) []resolve.Entry {
	n := 0
	for _, s := range segs {
		n += s.entries.Len()
	}
	entries := make([]resolve.Entry, 0, n)
	for _, s := range segs {
		for e := range s.entries.All() {
			entries = append(entries, *e)
		}
	}
	return entries
}
