package compressors

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Detect names the format of a stream from its leading bytes, or returns ""
// when none matches or header is too short to tell. The magic numbers are
// those the kernel's initramfs unpacker recognises, made a little stricter
// where a longer magic is standard.
func Detect(header []byte) string {
	for _, f := range formats {
		if bytes.HasPrefix(header, []byte(f.magic)) {
			return f.name
		}
	}
	return ""
}

// NewReader decodes a stream of the given format (a name Detect returns;
// "none" is accepted as well as "cpio" and passes the data through).
// Concatenated gzip members, zstd frames, xz streams, lz4 legacy streams and
// bzip2 streams are all decoded, in order, as the kernel does with
// segment-parallel images. Close releases the decoder; it does not close r.
// lzo has no decoder here: it is an error wrapping errors.ErrUnsupported.
func NewReader(format string, r io.Reader) (io.ReadCloser, error) {
	f, ok := formatNamed(format)
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown compression format %q", format)
	case f.newReader == nil:
		return nil, fmt.Errorf("%s: decompression %w", f.name, errors.ErrUnsupported)
	}
	return f.newReader(r)
}

// ErrNotCompressed is the error of NewDecoder for input in no compressed
// format.
var ErrNotCompressed = errors.New("compressors: not in a compressed format")

// NewDecoder decodes r from the compressed format its first bytes name
// (see Detect), reading it through a buffer of its own: a compressed
// file such as a .ko.xz module. Input in no compressed format (a plain
// archive included) is an error wrapping ErrNotCompressed. Close
// releases the decoder; it does not close r.
func NewDecoder(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(DetectLen)
	format := Detect(head)
	if format == "" || format == FormatCpio {
		return nil, ErrNotCompressed
	}
	return NewReader(format, br)
}

// gzipReader decodes gzip members one at a time so that it can skip zero
// padding between them, which the kernel allows between segments.
type gzipReader struct {
	br     *bufio.Reader // an io.ByteReader, so inflate stops exactly at a member's end
	z      *gzip.Reader
	member int
	err    error
}

func newGzipReader(r io.Reader) (*gzipReader, error) {
	br := bufio.NewReader(r)
	z, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	z.Multistream(false)
	return &gzipReader{br: br, z: z, member: 1}, nil
}

func (g *gzipReader) Read(p []byte) (int, error) {
	for g.err == nil {
		n, err := g.z.Read(p)
		if err != io.EOF {
			if err != nil {
				g.err = fmt.Errorf("gzip member %d: %w", g.member, err)
			}
			return n, g.err
		}
		if n > 0 {
			return n, nil
		}
		// End of a member: skip zero padding and start the next one.
		if err := skipZeros(g.br); err != nil {
			g.err = err // io.EOF at the end of the input
			break
		}
		g.member++
		if err := g.z.Reset(g.br); err != nil {
			g.err = fmt.Errorf("gzip member %d: %w", g.member, err)
			break
		}
		g.z.Multistream(false)
	}
	return 0, g.err
}

func (g *gzipReader) Close() error { return g.z.Close() }

// skipZeros discards zero bytes; it returns io.EOF if the input ends.
// It peeks rather than reading and giving back, as the ZstdFrames sources
// need not be able to unread.
func skipZeros(r FrameSource) error {
	for {
		b, err := r.Peek(1)
		if len(b) == 0 {
			return err
		}
		if b[0] != 0 {
			return nil
		}
		r.ReadByte() // cannot fail: Peek has the byte in hand
	}
}
