package compressors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameSource is the input of a ZstdFrames. Peek lets the walker look at
// a frame's magic number before consuming it, so that input which is not
// a frame can be left in place for the next reader; ReadByte drops zero
// padding one byte at a time. *bufio.Reader satisfies it.
type FrameSource interface {
	io.Reader
	io.ByteReader
	// Peek returns the next n bytes without consuming them, or fewer
	// together with an error (io.EOF at the end of the input), as
	// bufio.Reader.Peek does.
	Peek(n int) ([]byte, error)
}

// ZstdFrames passes on the zstd frames and skippable frames of its source
// unchanged and drops the zero bytes between them, which the kernel allows
// between the segments of an initramfs and the zstd decoder does not. It
// walks the frame structure (RFC 8878 section 3.1) to find each frame's
// end without decoding it, so a decoder reading from it sees one clean
// run of frames.
//
// Set the exported fields before the first Read.
type ZstdFrames struct {
	// StopAtForeign makes Read report io.EOF at the first input after a
	// frame that is not one, leaving that input unread in the source for
	// whoever reads next (a later segment of another format). Without it
	// such input is an error, which is right when the whole stream must
	// be zstd.
	StopAtForeign bool

	// OnFrameEnd, if not nil, is called each time the source has been read
	// to the end of a frame, so that the caller can note the source's
	// position there. The frame's last bytes may not yet have been passed
	// on by Read.
	OnFrameEnd func()

	src     FrameSource
	pending []byte // structure bytes read and not yet passed on
	payload int64  // block content or skippable data still to copy
	blocks  bool   // inside a frame's blocks
	last    bool   // the current block is the frame's last
	check   bool   // the frame ends with a 4-byte checksum
	err     error
}

// NewZstdFrames returns a ZstdFrames reading the frames of src.
func NewZstdFrames(src FrameSource) *ZstdFrames {
	return &ZstdFrames{src: src}
}

const (
	zstdMagic          = 0xFD2FB528
	zstdSkippableMask  = 0xFFFFFFF0
	zstdSkippableMagic = 0x184D2A50
)

// Read implements io.Reader. It returns io.EOF at the end of the input
// (after any zero padding) and, with StopAtForeign, at input that is not
// a frame; an error when the input ends inside a frame.
func (f *ZstdFrames) Read(p []byte) (int, error) {
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
			n, err := f.src.Read(p[:min(int64(len(p)), f.payload)])
			f.payload -= int64(n)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if f.payload == 0 && !f.blocks {
				f.frameEnd() // a skippable frame
			}
			return n, err
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.err = f.next(); f.err != nil && f.err != io.EOF {
			// Structure read before the error would only make the decoder
			// fail with a vaguer message of its own.
			f.pending = nil
		}
	}
}

func (f *ZstdFrames) frameEnd() {
	if f.OnFrameEnd != nil {
		f.OnFrameEnd()
	}
}

// next reads the next piece of structure into pending and sets payload.
func (f *ZstdFrames) next() error {
	if f.blocks {
		if f.last {
			f.blocks = false
			if f.check {
				if err := f.readPending(4); err != nil {
					return err
				}
			}
			f.frameEnd()
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
	if err := skipZeros(f.src); err != nil {
		return err // io.EOF: the clean end of the input
	}
	head, err := f.src.Peek(4)
	if len(head) < 4 {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("zstd: truncated frame: %w", err)
	}
	magic := binary.LittleEndian.Uint32(head)
	if magic&zstdSkippableMask == zstdSkippableMagic {
		if err := f.readPending(8); err != nil {
			return err
		}
		f.payload = int64(binary.LittleEndian.Uint32(f.pending[4:]))
		if f.payload == 0 {
			f.frameEnd()
		}
		return nil
	}
	if magic != zstdMagic {
		if f.StopAtForeign {
			return io.EOF
		}
		return fmt.Errorf("zstd: expected a frame, found bytes % x", head)
	}
	if err := f.readPending(5); err != nil {
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
func (f *ZstdFrames) readPending(n int) error {
	start := len(f.pending)
	f.pending = append(f.pending, make([]byte, n)...)
	if _, err := io.ReadFull(f.src, f.pending[start:]); err != nil {
		f.pending = f.pending[:start]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("zstd: truncated frame: %w", err)
	}
	return nil
}
