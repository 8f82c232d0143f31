package compressors

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Format names returned by Detect and accepted by NewReader.
const (
	FormatCpio  = "cpio" // uncompressed newc/odc cpio
	FormatGzip  = "gzip"
	FormatBzip2 = "bzip2"
	FormatLzma  = "lzma"
	FormatXz    = "xz"
	FormatLzo   = "lzo"
	FormatLz4   = "lz4" // the legacy frame, the only one the kernel reads
	FormatZstd  = "zstd"
)

// DetectLen is the number of leading bytes Detect needs to recognise every
// format it knows.
const DetectLen = 6

// Detect names the format of a stream from its leading bytes, or returns ""
// when none matches or header is too short to tell. The magic numbers are
// those the kernel's initramfs unpacker recognises, made a little stricter
// where a longer magic is standard.
func Detect(header []byte) string {
	for _, m := range [...]struct {
		format string
		magic  string
	}{
		{FormatXz, "\xfd7zXZ\x00"},
		{FormatZstd, "\x28\xb5\x2f\xfd"},
		{FormatLz4, "\x02\x21\x4c\x18"},
		{FormatLzo, "\x89LZO"},
		{FormatBzip2, "BZh"},
		{FormatLzma, "\x5d\x00\x00"},
		{FormatGzip, "\x1f\x8b"},
		{FormatCpio, "07070"},
	} {
		if bytes.HasPrefix(header, []byte(m.magic)) {
			return m.format
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
	switch format {
	case FormatCpio, "none":
		return io.NopCloser(r), nil
	case FormatGzip:
		return newGzipReader(r)
	case FormatZstd:
		d, err := zstd.NewReader(&zstdFramer{r: bufio.NewReader(r)}, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return d.IOReadCloser(), nil
	case FormatXz:
		d, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(d), nil
	case FormatLz4:
		return io.NopCloser(lz4.NewReader(r)), nil
	case FormatBzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case FormatLzma:
		d, err := lzma.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(d), nil
	case FormatLzo:
		return nil, fmt.Errorf("lzo: decompression %w", errors.ErrUnsupported)
	}
	return nil, fmt.Errorf("unknown compression format %q", format)
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
func skipZeros(br *bufio.Reader) error {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		if b != 0 {
			return br.UnreadByte()
		}
	}
}

// zstdFramer passes through the frames of a zstd stream and drops the zero
// bytes between them, which the kernel allows and the zstd decoder does not.
// It walks the frame structure (RFC 8878 section 3.1) to find each frame's
// end without decoding it.
type zstdFramer struct {
	r       *bufio.Reader
	pending []byte // structure bytes read ahead and not yet passed on
	payload int64  // bytes of block content or skippable data still to copy
	blocks  bool   // inside a frame's blocks
	last    bool   // the current block is the frame's last
	check   bool   // the frame ends with a 4-byte checksum
	err     error
}

const (
	zstdMagic          = 0xFD2FB528
	zstdSkippableMask  = 0xFFFFFFF0
	zstdSkippableMagic = 0x184D2A50
)

func (f *zstdFramer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(f.pending) > 0 {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		if f.payload > 0 {
			n, err := f.r.Read(p[:min(int64(len(p)), f.payload)])
			f.payload -= int64(n)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.err = f.next(); f.err != nil {
			// Structure read before the error would only make the decoder
			// fail with a vaguer message of its own.
			f.pending = nil
		}
	}
}

// next reads the next piece of structure into pending and sets payload.
func (f *zstdFramer) next() error {
	if f.blocks {
		if f.last {
			f.blocks = false
			if f.check {
				return f.readPending(4)
			}
			return nil
		}
		if err := f.readPending(3); err != nil {
			return err
		}
		h := uint32(f.pending[0]) | uint32(f.pending[1])<<8 | uint32(f.pending[2])<<16
		f.last = h&1 != 0
		size := int64(h >> 3)
		switch (h >> 1) & 3 {
		case 0, 2: // raw, compressed
			f.payload = size
		case 1: // RLE: one byte repeated size times
			f.payload = 1
		default:
			return errors.New("zstd: reserved block type")
		}
		return nil
	}
	if err := skipZeros(f.r); err != nil {
		return err // io.EOF: the clean end of the input
	}
	if err := f.readPending(4); err != nil {
		return err
	}
	magic := binary.LittleEndian.Uint32(f.pending)
	if magic&zstdSkippableMask == zstdSkippableMagic {
		if err := f.readPending(4); err != nil {
			return err
		}
		f.payload = int64(binary.LittleEndian.Uint32(f.pending[4:]))
		return nil
	}
	if magic != zstdMagic {
		return fmt.Errorf("zstd: expected a frame, found bytes % x", f.pending)
	}
	if err := f.readPending(1); err != nil {
		return err
	}
	fhd := f.pending[4]
	single := fhd&0x20 != 0
	f.check = fhd&0x04 != 0
	n := [4]int{0, 1, 2, 4}[fhd&3]  // dictionary ID
	n += [4]int{0, 2, 4, 8}[fhd>>6] // frame content size
	if single && fhd>>6 == 0 {
		n++ // a one-byte content size
	}
	if !single {
		n++ // window descriptor
	}
	if err := f.readPending(n); err != nil {
		return err
	}
	f.blocks, f.last = true, false
	return nil
}

// readPending appends n bytes of input to pending.
func (f *zstdFramer) readPending(n int) error {
	start := len(f.pending)
	f.pending = append(f.pending, make([]byte, n)...)
	if _, err := io.ReadFull(f.r, f.pending[start:]); err != nil {
		f.pending = f.pending[:start]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("zstd: truncated frame: %w", err)
	}
	return nil
}
