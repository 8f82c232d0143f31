package inspect

import (
	"errors"
	"fmt"
	"io"
)

// histLen is how many consumed bytes a source keeps so that they can be
// given back: bzip2's decoder sees the end of its stream only after
// reading two bytes past it.
const histLen = 16

// source is a buffered reader that counts the bytes consumed, peeks
// ahead, and can give back the last few bytes it returned. It is an
// io.ByteReader, so flate, bzip2 and lzma decoders read from it byte by
// byte and stop exactly at the end of their stream instead of buffering
// past it into the next segment. With Peek it is also a
// compressors.FrameSource, for the zstd frame walker.
type source struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread bytes are buf[pos:end]; buf[:pos] is history
	off      int64 // bytes consumed so far
	err      error // sticky error from r, returned once buf is drained
}

func newSource(r io.Reader) *source {
	return &source{r: r, buf: make([]byte, 64<<10)}
}

// fill reads until at least n unread bytes are buffered or r fails.
func (s *source) fill(n int) {
	if s.end-s.pos >= n || s.err != nil {
		return
	}
	// Keep histLen bytes of history in front of the unread data.
	keep := min(s.pos, histLen)
	if s.pos > keep {
		copy(s.buf, s.buf[s.pos-keep:s.end])
		s.end -= s.pos - keep
		s.pos = keep
	}
	if need := s.pos + n; need > len(s.buf) {
		nb := make([]byte, max(need, 2*len(s.buf)))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for s.end-s.pos < n && s.err == nil {
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err != nil {
			s.err = err
		} else if m == 0 {
			s.err = io.ErrNoProgress
		}
	}
}

// Read implements io.Reader.
func (s *source) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.pos == s.end {
		s.fill(1)
		if s.pos == s.end {
			return 0, s.err
		}
	}
	n := copy(p, s.buf[s.pos:s.end])
	s.pos += n
	s.off += int64(n)
	return n, nil
}

// ReadByte implements io.ByteReader.
func (s *source) ReadByte() (byte, error) {
	if s.pos == s.end {
		s.fill(1)
		if s.pos == s.end {
			return 0, s.err
		}
	}
	b := s.buf[s.pos]
	s.pos++
	s.off++
	return b, nil
}

// Peek returns up to n unread bytes without consuming them; fewer only
// at the end of the input or on an error, which it then returns.
func (s *source) Peek(n int) ([]byte, error) {
	s.fill(n)
	if s.end-s.pos < n {
		return s.buf[s.pos:s.end], s.err
	}
	return s.buf[s.pos : s.pos+n], nil
}

// unread gives back the last n bytes consumed (n <= histLen).
func (s *source) unread(n int) error {
	if n > s.pos {
		return errors.New("inspect: cannot give back that many bytes")
	}
	s.pos -= n
	s.off -= int64(n)
	return nil
}

// lastByte returns the last byte consumed, if any is still buffered.
func (s *source) lastByte() (byte, bool) {
	if s.pos == 0 {
		return 0, false
	}
	return s.buf[s.pos-1], true
}

// skipZeros consumes zero bytes: the padding the kernel allows between
// segments and between archives. It returns nil at a non-zero byte,
// io.EOF at the end of the input, the input's error, or an error
// wrapping ErrPadding after MaxPadding zero bytes in a row.
func (s *source) skipZeros() error {
	start := s.off
	for {
		if s.pos == s.end {
			s.fill(1)
			if s.pos == s.end {
				return s.err
			}
		}
		i := s.pos
		for i < s.end && s.buf[i] == 0 {
			i++
		}
		s.off += int64(i - s.pos)
		s.pos = i
		if s.off-start > MaxPadding {
			return paddingError(start)
		}
		if i < s.end {
			return nil
		}
	}
}

// MaxPadding is the longest run of zero padding a Reader skips between
// segments, streams and records. The kernel skips any amount, but its
// input is the image in memory; a Reader's input may be endless, as
// /dev/zero or a decompression bomb is. Real images pad to a block of
// at most a few KiB.
const MaxPadding = 1 << 20

// ErrPadding is the error for more than MaxPadding zero bytes in a row.
var ErrPadding = errors.New("inspect: too much zero padding")

func paddingError(off int64) error {
	return fmt.Errorf("offset %d: %w: more than %d zero bytes in a row (an endless input?)", off, ErrPadding, MaxPadding)
}

// zeroBound is the source as the zstd frame walker sees it: the walker
// drops the zero padding after a frame with Peek and ReadByte, one byte
// at a time, and zeroBound fails its Peek after MaxPadding zeros in a
// row.
type zeroBound struct {
	*source
	run   int64 // zero bytes in a row returned by ReadByte
	start int64 // source offset of the first of them
}

// ReadByte implements io.ByteReader.
func (z *zeroBound) ReadByte() (byte, error) {
	b, err := z.source.ReadByte()
	switch {
	case err != nil || b != 0:
		z.run = 0
	case z.run == 0 || z.start+z.run != z.off-1:
		z.start, z.run = z.off-1, 1 // a new run: other reads came between
	default:
		z.run++
	}
	return b, err
}

// Peek returns up to n unread bytes, as source.Peek does, or an error
// wrapping ErrPadding after too long a run of zeros.
func (z *zeroBound) Peek(n int) ([]byte, error) {
	b, err := z.source.Peek(n)
	if z.run >= MaxPadding && z.start+z.run == z.off && len(b) > 0 && b[0] == 0 {
		return nil, paddingError(z.start)
	}
	return b, err
}
