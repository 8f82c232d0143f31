package inspect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// records reads the records of an image one at a time, each with what
// the record itself holds: the content of a hard-link name whose data
// is on another name is left to Reader. It walks the segments as the
// kernel's initramfs unpacker does: a sequence of uncompressed cpio
// archives and compressed ones recognised by their magic, with zero
// padding allowed between them.
type records struct {
	src  *source
	segs []Segment // the segments read to their end

	seg        *Segment // the current segment; nil between segments
	in         *source  // its cpio data
	run        *run     // its decoder; nil for an uncompressed segment
	end        int64    // offset in in just past the last record
	archive    int      // TRAILER!!! records seen; the kernel forgets links at each
	sum        hash.Hash
	buf        []byte
	err        error // sticky; io.EOF at the end of the image
	compressed bool
}

// record is an entry as one record gives it, with the key of its
// hard-link group ("" for none), unique in the image.
type record struct {
	Entry
	key string
}

func newRecords(r io.Reader) *records {
	return &records{src: newSource(r), sum: sha256.New()}
}

// next reads the next record into rec; io.EOF at the end of the image.
func (rs *records) next(rec *record) error {
	for rs.err == nil {
		if rs.seg == nil {
			rs.err = rs.startSegment()
			continue
		}
		ok, err := rs.record(rec)
		switch {
		case err != nil:
			rs.err = fmt.Errorf("segment %d (%s at offset %d): %w", rs.seg.Index, rs.seg.Format, rs.seg.Offset, err)
			if rs.run != nil {
				rs.run.close()
			}
		case ok:
			return nil
		default:
			rs.endSegment()
		}
	}
	return rs.err
}

// startSegment finds the next segment and starts reading it; io.EOF at
// the end of the image.
func (rs *records) startSegment() error {
	if err := rs.src.skipZeros(); err != nil {
		return err
	}
	start := rs.src.off
	head, _ := rs.src.Peek(compressors.DetectLen)
	format := compressors.Detect(head)
	if format == "" {
		return fmt.Errorf("offset %d: no cpio or compressed data (bytes % x)", start, head)
	}
	rs.seg = &Segment{Index: len(rs.segs), Format: format, Offset: start, Streams: 1}
	rs.end = start
	if format == compressors.FormatCpio {
		// An uncompressed archive ends at the first input that is not
		// a record, usually a compressed segment after TRAILER!!!.
		rs.in, rs.run, rs.compressed = rs.src, nil, false
		return nil
	}
	run, err := newRun(rs.src, format)
	if err != nil {
		return fmt.Errorf("segment %d (%s at offset %d): %w", rs.seg.Index, format, start, err)
	}
	rs.in, rs.run, rs.compressed = newSource(run), run, true
	return nil
}

// endSegment records the current segment as read to its end.
func (rs *records) endSegment() {
	seg := rs.seg
	if rs.run == nil {
		seg.Size = rs.end - seg.Offset
		seg.Uncompressed = seg.Size
	} else {
		rs.run.close()
		seg.Size = rs.run.end - seg.Offset
		seg.Streams = rs.run.members
		seg.Uncompressed = rs.in.off
		if seg.Format == compressors.FormatBzip2 || seg.Format == compressors.FormatLz4 {
			seg.Streams = 1 // their decoders join streams without saying
		}
	}
	rs.segs = append(rs.segs, *seg)
	rs.seg, rs.in, rs.run = nil, nil, nil
}

// record reads the next record of the current segment into rec; false
// at the segment's end. In a compressed segment every byte must belong
// to a record or be zero padding; an uncompressed one ends where the
// records do.
func (rs *records) record(rec *record) (bool, error) {
	in := rs.in
	for {
		if err := in.skipZeros(); err == io.EOF {
			return false, nil
		} else if err != nil {
			return false, err
		}
		head, _ := in.Peek(6)
		if !isCpio(head) {
			if rs.compressed {
				return false, fmt.Errorf("uncompressed offset %d: junk after the last record (bytes % x)", in.off, head)
			}
			return false, nil
		}
		start := in.off
		// A fresh cpiogen.Reader per record: a segment may end after any
		// record, with or without a trailer, and another format follow.
		cr := cpiogen.NewReader(in)
		h, err := cr.Next()
		if err == io.EOF {
			rs.seg.Trailers++
			rs.archive++
			rs.end = in.off
			continue
		}
		if err != nil {
			return false, fmt.Errorf("record at uncompressed offset %d: %w", start, err)
		}
		if err := rs.fill(rec, h, cr); err != nil {
			return false, fmt.Errorf("%s (record at uncompressed offset %d): %w", rec.Path, start, err)
		}
		rs.seg.Entries++
		rs.end = in.off
		return true, nil
	}
}

// fill sets rec from the header h and the record's data in cr, and
// consumes the padding after the data.
func (rs *records) fill(rec *record, h *cpiogen.Header, cr *cpiogen.Reader) error {
	rec.Entry = Entry{
		Path: cleanName(h.Name), Type: typeOf(h.Mode), Mode: Perm(h.Mode & cpiogen.ModePerm),
		UID: h.UID, GID: h.GID, MTime: h.MTime, NLink: h.NLink, Segment: rs.seg.Index,
	}
	rec.key = ""
	e := &rec.Entry
	switch e.Type {
	case TypeFile:
		if rs.buf == nil {
			rs.buf = make([]byte, 256<<10)
		}
		rs.sum.Reset()
		n, err := io.CopyBuffer(rs.sum, cr, rs.buf)
		if err != nil {
			return err
		}
		e.Size, e.DataSize, e.SHA256 = n, n, hex.EncodeToString(rs.sum.Sum(rs.buf[:0]))
		if h.LinkKey != "" {
			rec.key = strconv.Itoa(rs.archive) + "/" + h.LinkKey
		}
	case TypeSymlink:
		e.Link = h.Linkname
		e.Size = int64(len(h.Linkname))
	case TypeChar, TypeBlock:
		e.Major, e.Minor = h.RDevMajor, h.RDevMinor
	}
	// The data padding, which the next Next would have skipped.
	if pad := (4 - h.Size&3) & 3; pad > 0 {
		var p [3]byte
		if _, err := io.ReadFull(rs.in, p[:pad]); err != nil {
			return fmt.Errorf("padding after the data: %w", io.ErrUnexpectedEOF)
		}
	}
	return nil
}
