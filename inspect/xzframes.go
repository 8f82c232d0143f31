package inspect

import (
	"fmt"
	"io"
)

// xzFrames passes exactly one xz stream from a source, then io.EOF.
//
// The xz decoder (github.com/therootcompany/xz, which reads the BCJ
// filter chains the kernel reads) fills a buffer of its own from its
// input, and at the end of a stream it reads on through the stream
// padding and one byte more: it would take the next segment's first
// bytes and refuse padding whose length is not a multiple of four,
// which the kernel skips. xzFrames knows where the stream ends from its
// framing alone (the lengths of the stream header, block headers, LZMA2
// chunks, block padding and checks, index records and stream footer),
// so it hands the decoder every byte of the stream and none after it.
// It checks only what it needs for the lengths; the decoder checks the
// rest.
type xzFrames struct {
	src   *source
	left  int64        // bytes of the current unit not yet passed on
	next  func() error // peeks at the next unit, setting left and next; nil after the footer
	check int64        // length of each block's check
	size  int64        // bytes of the current block's data, or of the index, so far
	count uint64       // index fields (VLIs) still to come
	err   error
}

// xzHeaderLen is the length of the stream header and of the footer.
const xzHeaderLen = 12

// reset starts a new stream at the source's position.
func (x *xzFrames) reset() {
	*x = xzFrames{src: x.src, next: x.streamHeader}
}

// Read implements io.Reader.
func (x *xzFrames) Read(p []byte) (int, error) {
	for x.left == 0 && x.err == nil {
		if x.next == nil {
			x.err = io.EOF
		} else {
			x.err = x.next()
		}
	}
	if x.left == 0 {
		return 0, x.err
	}
	// Reading in full makes what the decoder gets in each Read, and so
	// where it finds an error, the same whatever sizes the source's
	// reads have.
	n, err := io.ReadFull(x.src, p[:min(int64(len(p)), x.left)])
	x.left -= int64(n)
	if err != nil {
		err = truncated(err) // the stream goes on
	}
	return n, err
}

// peek returns the next n bytes of the source without consuming them.
func (x *xzFrames) peek(n int) ([]byte, error) {
	b, err := x.src.Peek(n)
	if len(b) < n {
		return nil, truncated(err)
	}
	return b, nil
}

// truncated is the error for input that ends inside a stream.
func truncated(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fail describes a framing error at the source's position.
func (x *xzFrames) fail(format string, a ...any) error {
	return fmt.Errorf("offset %d: %s", x.src.off, fmt.Sprintf(format, a...))
}

// unit passes n more bytes and then calls next.
func (x *xzFrames) unit(n int64, next func() error) error {
	x.left, x.next = n, next
	return nil
}

// streamHeader reads the check type from the stream flags.
func (x *xzFrames) streamHeader() error {
	b, err := x.peek(xzHeaderLen)
	if err != nil {
		return err
	}
	// Check IDs 1-3 take 4 bytes, 4-6 8 bytes, and so on up to 64.
	if id := b[7] & 0x0f; id != 0 {
		x.check = 4 << ((id - 1) / 3)
	}
	return x.unit(xzHeaderLen, x.blockOrIndex)
}

// blockOrIndex reads a block header's length, or starts the index.
func (x *xzFrames) blockOrIndex() error {
	b, err := x.peek(1)
	if err != nil {
		return err
	}
	if b[0] == 0 { // the index indicator
		x.size, x.count = 1, 1 // the number of records comes first
		return x.unit(1, x.indexField)
	}
	x.size = 0
	return x.unit((int64(b[0])+1)*4, x.lzma2Chunk)
}

// lzma2Chunk reads an LZMA2 chunk's length from its header. The last
// filter of a chain is always LZMA2, whatever filters come before it.
func (x *xzFrames) lzma2Chunk() error {
	b, err := x.peek(1)
	if err != nil {
		return err
	}
	var n int64
	switch c := b[0]; {
	case c == 0: // the end of the block's data
		x.size++
		return x.unit(1, x.blockEnd)
	case c == 1 || c == 2: // stored: size-1 in two bytes
		if b, err = x.peek(3); err != nil {
			return err
		}
		n = 3 + int64(b[1])<<8 + int64(b[2]) + 1
	case c >= 0x80: // compressed: then packed size-1 in bytes 3-4, props if c >= 0xc0
		if b, err = x.peek(5); err != nil {
			return err
		}
		n = 5 + int64(b[3])<<8 + int64(b[4]) + 1
		if c >= 0xc0 {
			n++
		}
	default:
		return x.fail("xz: invalid LZMA2 chunk control byte 0x%02x", c)
	}
	x.size += n
	return x.unit(n, x.lzma2Chunk)
}

// blockEnd passes the block padding, which aligns the block to four
// bytes (its header's length is a multiple of four), and the check.
func (x *xzFrames) blockEnd() error {
	return x.unit(pad4(x.size)+x.check, x.blockOrIndex)
}

// indexField passes a variable-length integer of the index: the number
// of records, then two for each record.
func (x *xzFrames) indexField() error {
	b, err := x.src.Peek(9) // the longest an xz integer may be
	for i, c := range b {
		if c&0x80 != 0 {
			continue
		}
		if x.size == 1 { // the number of records
			x.count += 2 * vli(b[:i+1])
		}
		x.count--
		x.size += int64(i + 1)
		if x.count == 0 {
			return x.unit(int64(i+1), x.indexEnd)
		}
		return x.unit(int64(i+1), x.indexField)
	}
	if len(b) < 9 {
		return truncated(err)
	}
	return x.fail("xz: index integer longer than 9 bytes")
}

// indexEnd passes the index padding, the index CRC32 and the footer.
func (x *xzFrames) indexEnd() error {
	return x.unit(pad4(x.size)+4+xzHeaderLen, nil)
}

// vli decodes an xz variable-length integer (7 bits a byte, least
// significant first); b is at most 9 bytes long, so it fits 63 bits.
func vli(b []byte) uint64 {
	var v uint64
	for i, c := range b {
		v |= uint64(c&0x7f) << (7 * i)
	}
	return v
}

// pad4 is how many bytes align n to a multiple of four.
func pad4(n int64) int64 { return -n & 3 }
