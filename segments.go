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

// segment is one independently written part of the main archive,
// planned before any of it is written. A segment of records holds
// entries, whose records depend on nothing before them (see inodes), so
// that each compressor worker writes its own segment, reading its own
// files, and a segment whose entries are unchanged is the same bytes in
// the next build. Files whose content is compressed already come after
// them, stored: uncompressed, in a segment of their own. The archive
// ends with a segment of its own, the trailer, so that what pads the
// archive to 512 bytes changes no other segment.
type segment struct {
	kind    segmentKind
	code    compressors.Code // the code most of its files' bytes are, if any (see planOptions.code)
	entries *resolve.Packed  // its records' entries; nil for the trailer
	size    int64            // its bytes
	end     cpiogen.State    // the archive's state before the trailer's segment
	layout  segcache.Key     // a hash of its headers, with a cache (see keeper)
}

// segmentKind says what a segment holds.
type segmentKind uint8

const (
	records segmentKind = iota // entries, compressed
	stored                     // entries whose content is compressed, uncompressed
	trailer                    // the trailer and the archive's padding, compressed
)

func (k segmentKind) String() string {
	switch k {
	case records:
		return "records"
	case stored:
		return "stored"
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

// planOptions say how an archive is cut into segments.
type planOptions struct {
	size        int64  // the average segment's
	fingerprint string // the compressor's, to hash each segment's layout for a cache; "" for none
	store       bool   // files whose content is compressed already go in a stored segment
	code        bool   // a segment whose files' bytes are mostly code is compressed as code (compressors.ForCode)
}

// plan lays the archive of entries out without reading a file (but the
// first bytes of those that may be stored) and cuts it into segments
// that average size bytes (see cuts), the stored segment, and the
// trailer's. Headers that cpiogen rejects are reported here, before
// anything is written.
func (a *archiver) plan(entries iter.Seq[*resolve.Entry], opts planOptions) ([]segment, error) {
	pl := &planner{a: a, hash: &layoutHash{fingerprint: opts.fingerprint}, code: opts.code, codes: make(map[compressors.Code]int64)}
	pl.hash.reset()
	pl.layout = a.newWriter(pl.hash)
	c := newCuts(opts.size)
	var store resolve.Packer
	var storing bool
	for e := range entries {
		if opts.store && a.storable(e) {
			store.Add(e)
			storing = true
			continue
		}
		before := pl.layout.Offset()
		if err := pl.add(e); err != nil {
			return nil, err
		}
		if c.after(e.Path, pl.layout.Offset()-before, pl.layout.Offset()-pl.start) {
			pl.cut(records)
		}
	}
	pl.cut(records)
	if storing {
		for e := range store.Packed().All() {
			if err := pl.add(e); err != nil {
				return nil, err
			}
		}
		pl.cut(stored)
	}
	end := pl.layout.State()
	if err := pl.layout.Close(); err != nil {
		return nil, err
	}
	return append(pl.segs, segment{kind: trailer, size: pl.layout.Offset() - end.Offset(), end: end, layout: pl.hash.reset()}), nil
}

// planner lays out the records of segments one after the other.
type planner struct {
	a      *archiver
	layout *cpiogen.Writer // over hash
	hash   *layoutHash
	packer resolve.Packer // the entries of the segment being planned
	held   int            // how many
	start  int64          // the layout's offset at its start
	segs   []segment
	code   bool                       // planOptions.code
	files  int64                      // the bytes of its files
	codes  map[compressors.Code]int64 // of those, the bytes of code
}

// add runs e's header through the layout, skipping its data, and adds
// it to the segment being planned.
func (pl *planner) add(e *resolve.Entry) error {
	h, err := pl.a.header(e)
	if err != nil {
		return err
	}
	if err := pl.layout.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	pl.packer.Add(e)
	pl.held++
	if pl.code && e.Kind == resolve.File {
		pl.files += e.Size
		if c := compressors.CodeOf(e.Machine); c != compressors.NoCode {
			pl.codes[c] += e.Size
		}
	}
	return pl.layout.Skip()
}

// segmentCode returns the code that most of the planned segment's file
// bytes are, NoCode when no code is.
func (pl *planner) segmentCode() compressors.Code {
	best := compressors.NoCode
	for c, n := range pl.codes {
		if 2*n > pl.files && (best == compressors.NoCode || n > pl.codes[best]) {
			best = c
		}
	}
	return best
}

// cut ends the segment being planned, if it has entries, as a segment of
// kind.
func (pl *planner) cut(kind segmentKind) {
	if pl.held == 0 {
		return
	}
	n := pl.layout.Offset()
	code := compressors.NoCode
	if kind == records {
		code = pl.segmentCode()
	}
	pl.segs = append(pl.segs, segment{kind: kind, code: code, entries: pl.packer.Packed(), size: n - pl.start, layout: pl.hash.reset()})
	pl.start, pl.held, pl.files = n, 0, 0
	clear(pl.codes)
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
		var zw io.Writer
		var err error
		switch {
		case segs[i].kind == stored:
			// The kernel finds an uncompressed archive at a multiple of
			// 4 bytes only.
			zw, err = p.Raw(4)
		case keep != nil:
			return keep.fill(sw, segs[i], p)
		default:
			zw, err = p.CompressCode(segs[i].code, nil)
		}
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
	w = a.progress.archiving(w)
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

// storable reports whether e is a file whose content is compressed
// already (a .ko.xz module, .zst firmware): compressing it again saves
// next to nothing and costs most of a slow compressor's time, so it is
// stored. Its name must end in a compressed format's extension and its
// content start with that format's magic, which is read here; an entry
// in a hard-link group stays with the group.
func (a *archiver) storable(e *resolve.Entry) bool {
	if e.Kind != resolve.File || e.Source == "" || e.Decompress || a.links[e.HardLink] != nil ||
		e.Size < minStored || compressors.FormatOfName(e.Path) == "" {
		return false
	}
	f, _, err := a.src.open(e.Source, false)
	if err != nil {
		return false // writing it reports the error
	}
	defer f.Close()
	head := make([]byte, compressors.DetectLen)
	n, _ := io.ReadFull(f, head)
	format := compressors.Detect(head[:n])
	return format != "" && format != compressors.FormatCpio
}

// minStored is the smallest file stored: a record's header takes more
// room uncompressed than compressed, which only a larger file makes up
// for (doc/performance.md measures it).
const minStored = 16 << 10
