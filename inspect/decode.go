package inspect

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/therootcompany/xz"
	"github.com/ulikunitz/xz/lzma"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
)

// run decodes one segment: the consecutive streams (gzip members, zstd
// frames, xz streams, ...) of one compression format, with the zero
// padding the kernel allows between them. Its Read returns the
// concatenated decompressed data and io.EOF when the next input is not a
// stream of the same format; the source is then positioned at or after
// the end of the last stream (only zero padding may have been consumed),
// and end is the offset just past that stream.
//
// The decoders of package compressors read ahead into buffers of their
// own, so they cannot hand the rest of the input over to the next
// segment when the format changes. Here each decoder reads from the
// source byte by byte (gzip, bzip2, lzma), through an xzFrames that
// passes on exactly one xz stream, or through a compressors.ZstdFrames
// that passes on exactly one run of zstd frames.
type run struct {
	src     *source
	format  string
	members int   // streams decoded so far
	end     int64 // source offset just past the last complete stream

	cur  io.Reader // decoder of the current stream
	next func() (io.Reader, error)
	done func(err error) error // turns the decoder's final error into io.EOF or a real error
	stop func()                // releases decoder resources
	err  error
}

// newRun starts decoding a segment of format at the source's position.
func newRun(src *source, format string) (*run, error) {
	r := &run{src: src, format: format}
	var err error
	switch format {
	case compressors.FormatGzip:
		r.next = gzipStreams(src)
	case compressors.FormatXz:
		r.next = xzStreams(src)
	case compressors.FormatLzma:
		r.next = func() (io.Reader, error) {
			// The header names the dictionary size, and the decoder
			// allocates it before it reads any data: a 13-byte header can
			// ask for 2 GiB.
			return lzma.ReaderConfig{DictCap: maxLzmaDict}.NewReader(src)
		}
	case compressors.FormatBzip2:
		r.next, r.done = bzip2Streams(src)
	case compressors.FormatZstd:
		err = r.zstdFrames()
	default:
		// A format whose streams are not concatenated is read in one
		// (lz4, which must be the image's last segment); lzo has no
		// decoder here and compressors.NewReader says so.
		var d io.ReadCloser
		if d, err = compressors.NewReader(format, src); err == nil {
			r.stop = func() { d.Close() }
			r.next = once(d)
		}
	}
	if err == nil {
		err = r.open()
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// gzipStreams returns the next function of a gzip run: one decoder,
// reset for each member.
func gzipStreams(src *source) func() (io.Reader, error) {
	var z *gzip.Reader
	return func() (io.Reader, error) {
		var err error
		if z == nil {
			z, err = gzip.NewReader(src)
		} else {
			err = z.Reset(src)
		}
		if err != nil {
			return nil, err
		}
		z.Multistream(false)
		return z, nil
	}
}

// xzStreams returns the next function of an xz run: one decoder, reset
// for each stream, reading through an xzFrames that ends at the end of
// the stream. It reads every filter chain the kernel reads (LZMA2 after
// the BCJ filters of x86, powerpc, ia64, arm, armthumb and sparc) and,
// as a listing tool may, every check, not only the kernel's CRC32.
func xzStreams(src *source) func() (io.Reader, error) {
	frames := &xzFrames{src: src}
	var d *xz.Reader
	return func() (io.Reader, error) {
		frames.reset()
		var err error
		if d == nil {
			// The block headers name the dictionary size, and the
			// decoder allocates it before it reads any data.
			d, err = xz.NewReader(frames, maxLzmaDict)
		} else {
			err = d.Reset(frames)
		}
		if err != nil {
			return nil, err
		}
		d.Multistream(false)
		return d, nil
	}
}

// bzip2Streams returns the next and done functions of a bzip2 run.
func bzip2Streams(src *source) (next func() (io.Reader, error), done func(error) error) {
	next = func() (io.Reader, error) { return bzip2.NewReader(src), nil }
	done = func(err error) error {
		var se bzip2.StructuralError
		switch {
		case errors.As(err, &se) && string(se) == "bad magic value in continuation file":
			// The decoder read two bytes past its stream looking for
			// another one ("BZ"): give them back.
			return src.unread(2)
		case err == io.ErrUnexpectedEOF:
			// One zero byte of padding at the very end.
			if b, ok := src.lastByte(); ok && b == 0 {
				if _, perr := src.Peek(1); perr == io.EOF {
					return src.unread(1)
				}
			}
		}
		return err
	}
	return next, done
}

// zstdFrames sets r up to decode a run of zstd frames as one input.
func (r *run) zstdFrames() error {
	f := compressors.NewZstdFrames(&zeroBound{source: r.src})
	f.StopAtForeign = true // the next segment's data stays in src
	f.OnFrameEnd = func() {
		r.members++
		r.end = r.src.off
	}
	d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	r.stop = d.Close
	// The framer passes every frame of the run; the decoder sees them as
	// one input.
	r.next = once(d)
	return nil
}

// open starts the next stream.
func (r *run) open() error {
	d, err := r.next()
	if err != nil {
		return fmt.Errorf("%s stream %d: %w", r.format, r.members+1, err)
	}
	r.cur = d
	return nil
}

// Read implements io.Reader.
func (r *run) Read(p []byte) (int, error) {
	for r.err == nil {
		n, err := r.cur.Read(p)
		if err != nil {
			// Handle the end of a stream at once, even with data in hand:
			// a decoder asked again may read further past its stream.
			r.err = r.finish(err)
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

// finish ends the current stream and starts the next one of the same
// format, if the input has one; io.EOF when it has not.
func (r *run) finish(err error) error {
	if r.done != nil {
		err = r.done(err)
	} else if err == io.EOF {
		err = nil
	}
	if err != nil && err != io.EOF {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w (truncated)", err)
		}
		return fmt.Errorf("%s stream %d: %w", r.format, r.members+1, err)
	}
	if r.format == compressors.FormatZstd {
		return io.EOF // the framer handled the whole run
	}
	r.members++
	r.end = r.src.off
	if !compressors.Concatenated(r.format) {
		return io.EOF // no stream of the format follows another (lz4)
	}
	if err := r.src.skipZeros(); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return err
	}
	head, _ := r.src.Peek(compressors.DetectLen)
	if compressors.Detect(head) != r.format {
		return io.EOF
	}
	return r.open()
}

func (r *run) close() {
	if r.stop != nil {
		r.stop()
	}
}

// maxLzmaDict is the largest lzma or xz dictionary read: that of -9,
// the largest preset.
const maxLzmaDict = 64 << 20

// isCpio reports whether b starts a newc record (or another cpio format,
// which the record reader then names in its error).
func isCpio(b []byte) bool { return bytes.HasPrefix(b, []byte("07070")) }

// once returns a next function that hands out d, then io.EOF: a decoder
// that reads a whole run of streams as one input.
func once(d io.Reader) func() (io.Reader, error) {
	used := false
	return func() (io.Reader, error) {
		if used {
			return nil, io.EOF
		}
		used = true
		return d, nil
	}
}
