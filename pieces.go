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
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// piece is one segment of the archive, planned before any of it is
// written: the state its cpiogen.Writer starts from, and its entries.
//
// Planning lets each compressor worker write its own piece, reading its
// own files. When one goroutine wrote the whole archive and cut it on
// the fly, the workers waited on that reader's input buffers whenever
// their speeds drifted apart: with xz, one worker ran alone about a third
// of the time.
type piece struct {
	start   cpiogen.State
	entries *resolve.Packed
}

// planPieces lays the archive of entries out without reading a file and
// cuts it at the first entry boundary after each size bytes, the cut
// compressors.NewSegmentedWriter makes. The last piece, which may have no
// entries, also carries the trailer. Headers that cpiogen rejects are
// reported here, before anything is written.
func planPieces(entries iter.Seq[*resolve.Entry], links map[string]*linkGroup, mtime, size int64) ([]piece, error) {
	layout := cpiogen.NewWriter(io.Discard)
	start := layout.State()
	var pieces []piece
	var packer resolve.Packer
	for e := range entries {
		h, err := header(e, mtime, links[e.HardLink])
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
			pieces = append(pieces, piece{start, packer.Packed()})
			start = layout.State()
		}
	}
	return append(pieces, piece{start, packer.Packed()}), nil
}

// writePieces compresses the planned pieces into w, each piece written by
// its compressor's worker, and returns the archive's length.
func writePieces(ctx context.Context, w io.Writer, src sources, pieces []piece, links map[string]*linkGroup, mtime int64, comp compressors.Compressor, opts compressors.SegmentOptions) (int64, error) {
	// Buffered so that headers and padding do not cost a system call
	// each on a compressor's pipe; pooled, as a large tree has hundreds
	// of pieces.
	bufs := sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	var length int64
	err := compressors.WriteSegments(w, comp, opts, len(pieces), func(i int, zw io.Writer) error {
		bw := bufs.Get().(*bufio.Writer)
		defer bufs.Put(bw)
		sink := &sinkWriter{w: zw}
		bw.Reset(sink)
		last := i == len(pieces)-1
		n, err := writePiece(ctx, bw, src, pieces[i], last, links, mtime)
		if err == nil {
			err = bw.Flush()
		}
		if last {
			length = n
		}
		return sink.own(err)
	})
	return length, err
}

// writePiece writes a piece's entries to w and, for the last piece, the
// trailer. It returns the archive's offset at the piece's end.
func writePiece(ctx context.Context, w io.Writer, src sources, p piece, last bool, links map[string]*linkGroup, mtime int64) (int64, error) {
	cw := cpiogen.NewWriterAt(w, p.start)
	for e := range p.entries.All() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := writeEntry(cw, src, e, mtime, links[e.HardLink]); err != nil {
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

// sinkWriter passes writes on to a compressor and keeps its first error.
// The archive writer puts the entry it was writing in front of such an
// error, and copyFile the source, though neither has anything to do
// with a failing compressor or a full disk: own takes the error back.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// ReadFrom keeps the compressor's ReadFrom, which reads file data into
// its own buffers; an error of reading r is not the compressor's.
func (s *sinkWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := s.w.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{s}, r)
	}
	er := &errReader{r: r}
	n, err := rf.ReadFrom(er)
	if err != nil && er.err == nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// own returns the compressor's error in place of err, which carries it
// with unrelated names in front.
func (s *sinkWriter) own(err error) error {
	if err != nil && s.err != nil {
		return s.err
	}
	return err
}

// errReader keeps the first error of reading r.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// unpackPieces returns the entries of every piece, in order.
func unpackPieces(pieces []piece) []resolve.Entry {
	n := 0
	for _, p := range pieces {
		n += p.entries.Len()
	}
	entries := make([]resolve.Entry, 0, n)
	for _, p := range pieces {
		for e := range p.entries.All() {
			entries = append(entries, *e)
		}
	}
	return entries
}
