package inspect

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/mkinitrd-ng/mkinitrd-ng/uki"
)

// Reader reads the entries of an image one at a time, in archive order,
// as archive/tar.Reader reads a tar archive: its memory does not grow
// with the number of entries.
//
// The one exception is hard links. The kernel writes the data of every
// name of a hard-link group into the group's one inode, and the data is
// usually on the group's last name, so an earlier name's content is
// known only later. Next holds such a name, and the entries after it,
// until its group is complete: when it has as many names as their link
// count says, or its archive ends (the kernel forgets links at each
// TRAILER!!!). At most MaxHeld entries are held. Past that, a Reader of
// an io.ReaderAt (an *os.File of a regular file) reads the whole image
// once more, from offset 0, to learn every group's content, and keeps
// only the groups; any other Reader fails with ErrHeld. Like the kernel,
// a Reader keeps the hard-link groups of the current archive.
type Reader struct {
	recs *records
	ra   io.ReaderAt // for the second reading; nil without one

	groups  map[string]*linkGroup // by record key: the groups of the current archive
	archive int                   // the current archive's number
	full    bool                  // groups holds every group of the image, complete
	held    []held                // entries read and not yet returned, in order
	first   int                   // held[:first] are returned
	err     error                 // from recs; io.EOF at the end of the image
}

// MaxHeld is the most entries a Reader holds while it waits for the
// content of a hard-link group (see Reader).
const MaxHeld = 1 << 16

// ErrHeld is the error for a hard-link group whose names are more than
// MaxHeld entries apart, in an image that cannot be read twice.
var ErrHeld = errors.New("inspect: hard-link group spread too far for a single reading")

// linkGroup is a hard-link group: the names of one inode in one archive.
type linkGroup struct {
	first string // the first name, which Entry.HardLink gives
	names int    // names read so far
	nlink uint32 // names the first one's link count announces
	// The content: that of the last name with data, if one has some.
	size    int64
	sum     string
	hasData bool
	done    bool // no name changes the content any more
}

// held is an entry waiting for its hard-link group, or behind one that
// is.
type held struct {
	e Entry
	g *linkGroup // nil for an entry of no group
}

// NewReader returns a Reader of the image r holds. If r is an
// io.ReaderAt, the image is its content from offset 0, which the Reader
// may read a second time (see Reader); if that is a unified kernel image,
// the image is its .initrd section.
func NewReader(r io.Reader) *Reader {
	if ra, ok := r.(io.ReaderAt); ok {
		if initrd, ok := uki.ReadInitrd(ra); ok {
			r = initrd
		}
	}
	rd := &Reader{recs: newRecords(r), groups: map[string]*linkGroup{}}
	if ra, ok := r.(io.ReaderAt); ok {
		rd.ra = ra
	}
	return rd
}

// Next returns the next entry, or io.EOF at the end of the image.
// Errors say where in the image they are; the error is sticky.
func (r *Reader) Next() (*Entry, error) {
	for {
		if r.first < len(r.held) {
			if h := &r.held[r.first]; h.g == nil || h.g.done {
				r.first++
				return h.resolve(), nil
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		if e, ok := r.read(); ok {
			return e, nil
		}
	}
}

// read reads one record. An entry that needs not wait is returned at
// once (ok); any other is held.
func (r *Reader) read() (e *Entry, ok bool) {
	var rec record
	if err := r.recs.next(&rec); err != nil {
		r.err = err
		r.finishAll()
		return nil, false
	}
	if r.recs.archive != r.archive && !r.full {
		// The kernel forgets the groups of an archive at its trailer.
		r.finishAll()
		clear(r.groups)
		r.archive = r.recs.archive
	}
	var g *linkGroup
	if rec.key != "" {
		g = r.join(&rec)
	}
	if r.first == len(r.held) && (g == nil || g.done) {
		r.held, r.first = r.held[:0], 0
		h := held{e: rec.Entry, g: g}
		return h.resolve(), true
	}
	if r.first > len(r.held)/2 {
		r.held = r.held[:copy(r.held, r.held[r.first:])]
		r.first = 0
	}
	r.held = append(r.held, held{e: rec.Entry, g: g})
	if len(r.held)-r.first > MaxHeld {
		r.readGroups()
	}
	return nil, false
}

// join adds rec to its hard-link group and returns the group.
func (r *Reader) join(rec *record) *linkGroup {
	g := r.groups[rec.key]
	if g == nil {
		g = &linkGroup{first: rec.Path, nlink: rec.NLink}
		r.groups[rec.key] = g
	}
	rec.HardLink = g.first
	if r.full {
		return g
	}
	g.add(&rec.Entry)
	if g.names >= int(g.nlink) {
		g.done = true
	}
	return g
}

// add counts e as a name of g.
func (g *linkGroup) add(e *Entry) {
	g.names++
	if e.DataSize > 0 {
		g.size, g.sum, g.hasData = e.DataSize, e.SHA256, true
	}
}

// finishAll ends every group: the image, or the reading, is over.
func (r *Reader) finishAll() {
	for _, g := range r.groups {
		g.done = true
	}
}

// resolve gives h's entry its group's content: the kernel writes each
// name's data into the one shared inode.
func (h *held) resolve() *Entry {
	e := h.e
	switch {
	case h.g == nil:
	case h.g.names < 2:
		e.HardLink = "" // a group of one is no group
	case h.g.hasData:
		e.Size, e.SHA256 = h.g.size, h.g.sum
	}
	return &e
}

// readGroups reads the whole image a second time for the content of
// every hard-link group, so that no entry needs to wait any more.
func (r *Reader) readGroups() {
	var err error
	groups := map[string]*linkGroup(nil)
	if r.ra != nil && !r.full {
		groups, err = readGroups(io.NewSectionReader(r.ra, 0, math.MaxInt64))
	}
	if groups == nil {
		why := "read the image from a file rather than a pipe"
		if err != nil {
			why = fmt.Sprintf("reading the image again failed: %v", err)
		}
		r.err = fmt.Errorf("%w: %s, a name of a hard-link group, waits for the group's other names behind more than %d entries; %s",
			ErrHeld, r.held[r.first].e.Path, MaxHeld, why)
		return
	}
	// The groups read so far are held: they take on the whole group's
	// names and content.
	for key, g := range r.groups {
		if all, ok := groups[key]; ok {
			*g = *all
		}
		groups[key] = g
	}
	r.groups, r.full = groups, true
}

// readGroups reads the image in r and returns its hard-link groups, by
// record key, complete.
func readGroups(r io.Reader) (map[string]*linkGroup, error) {
	recs := newRecords(r)
	groups := map[string]*linkGroup{}
	for {
		var rec record
		err := recs.next(&rec)
		if err == io.EOF {
			return groups, nil
		}
		if err != nil {
			return nil, err
		}
		if rec.key == "" {
			continue
		}
		g := groups[rec.key]
		if g == nil {
			g = &linkGroup{first: rec.Path, nlink: rec.NLink, done: true}
			groups[rec.key] = g
		}
		g.add(&rec.Entry)
	}
}

// Segments returns the segments read to their end so far: all of them
// once Next has returned io.EOF.
func (r *Reader) Segments() []Segment { return r.recs.segs }

// Size returns the number of bytes of the image read so far: the
// image's size once Next has returned io.EOF.
func (r *Reader) Size() int64 { return r.recs.src.off }
