package inspect

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// finals gives the entries an image leaves behind (the last record of
// each path) in path order; next returns nil at the end.
type finals interface {
	next() (*Entry, error)
}

// comparison builds a Diff from two finals merged in path order.
type comparison struct {
	d      *Diff
	group  Grouping
	groups map[string]*Group
}

func newComparison(oldName, newName, by string, group Grouping) *comparison {
	if by == "" {
		by = "path"
	}
	return &comparison{
		d: &Diff{Old: Side{File: oldName, Formats: []string{}}, New: Side{File: newName, Formats: []string{}}, By: by,
			Added: []Entry{}, Removed: []Entry{}, Changed: []Change{}},
		group: group, groups: map[string]*Group{},
	}
}

// merge walks both images' entries in path order, once.
func (c *comparison) merge(old, new finals) error {
	o, err := old.next()
	if err != nil {
		return err
	}
	n, err := new.next()
	for err == nil && (o != nil || n != nil) {
		switch {
		case n == nil || o != nil && o.Path < n.Path:
			c.count(o, nil)
			c.d.Removed = append(c.d.Removed, *o)
			o, err = old.next()
		case o == nil || n.Path < o.Path:
			c.count(nil, n)
			c.d.Added = append(c.d.Added, *n)
			n, err = new.next()
		default:
			c.count(o, n)
			if f := changedFields(o, n); len(f) > 0 {
				c.d.Changed = append(c.d.Changed, Change{Path: n.Path, Fields: f, SizeDelta: n.Size - o.Size, Old: *o, New: *n})
				if c.group != nil {
					c.groupOf(n).Changed++
				}
			}
			if o, err = old.next(); err == nil {
				n, err = new.next()
			}
		}
	}
	return err
}

// count adds the entries of one path to the sides' and groups' totals;
// o or n is nil when the path is only in the other image.
func (c *comparison) count(o, n *Entry) {
	if o != nil {
		c.d.Old.Entries++
		c.d.Old.Content += o.DataSize
	}
	if n != nil {
		c.d.New.Entries++
		c.d.New.Content += n.DataSize
	}
	if c.group == nil {
		return
	}
	if o != nil {
		g := c.groupOf(o)
		g.OldEntries++
		g.OldContent += o.DataSize
		if n == nil {
			g.Removed++
		}
	}
	if n != nil {
		g := c.groupOf(n)
		g.NewEntries++
		g.NewContent += n.DataSize
		if o == nil {
			g.Added++
		}
	}
}

func (c *comparison) groupOf(e *Entry) *Group {
	name := c.group(e)
	g := c.groups[name]
	if g == nil {
		g = &Group{Name: name}
		c.groups[name] = g
	}
	return g
}

// finish fills in the image-wide figures, given each image's size and
// segments, and returns the Diff.
func (c *comparison) finish(oldSize, newSize int64, oldSegs, newSegs []Segment) *Diff {
	d := c.d
	d.Old.Size, d.New.Size = oldSize, newSize
	for _, s := range oldSegs {
		d.Old.Uncompressed += s.Uncompressed
		d.Old.Formats = append(d.Old.Formats, s.Format)
	}
	for _, s := range newSegs {
		d.New.Uncompressed += s.Uncompressed
		d.New.Formats = append(d.New.Formats, s.Format)
	}
	d.CompressedDelta = d.New.Size - d.Old.Size
	d.UncompressedDelta = d.New.Uncompressed - d.Old.Uncompressed
	d.ContentDelta = d.New.Content - d.Old.Content
	if c.group != nil {
		d.Groups = sortedGroups(c.groups)
	}
	return d
}

// sliceFinals gives entries already in path order, one per path.
type sliceFinals []Entry

func (s *sliceFinals) next() (*Entry, error) {
	if len(*s) == 0 {
		return nil, nil
	}
	e := &(*s)[0]
	*s = (*s)[1:]
	return e, nil
}

// finalsOf returns img's final entries in path order.
func finalsOf(img *Image) *sliceFinals {
	f := img.Final()
	slices.SortFunc(f, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	s := sliceFinals(f)
	return &s
}

// errUnsorted says that an image's paths are not in sorted order, so
// that its entries cannot be merged as they are read.
var errUnsorted = errors.New("inspect: paths not in sorted order")

// streamFinals gives the final entries of an image whose records are
// sorted by path, as they are read: the records of one path are then
// next to each other, and the last is the one the kernel leaves. It
// fails with errUnsorted at the first path out of order.
type streamFinals struct {
	r    *Reader
	last *Entry // the latest record, given once the path changes
	done bool
}

func (s *streamFinals) next() (*Entry, error) {
	for !s.done {
		e, err := s.r.Next()
		if err == io.EOF {
			s.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case s.last == nil || e.Path == s.last.Path:
			s.last = e
		case e.Path < s.last.Path:
			return nil, fmt.Errorf("%w: %s after %s", errUnsorted, e.Path, s.last.Path)
		default:
			out := s.last
			s.last = e
			return out, nil
		}
	}
	out := s.last
	s.last = nil
	return out, nil
}

// namedFinals names its image in the errors of f, and notes whether f
// found the image unsorted.
type namedFinals struct {
	f        finals
	name     string
	unsorted bool
}

func (n *namedFinals) next() (*Entry, error) {
	e, err := n.f.next()
	if err != nil {
		n.unsorted = errors.Is(err, errUnsorted)
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	return e, nil
}

// prefetch reads f in a goroutine of its own, a batch of entries ahead
// of next, so that the two images of a diff are decoded at once. close
// stops the goroutine and waits for it, so that f's input may be read
// again afterwards.
type prefetch struct {
	batches chan batch
	stop    chan struct{}
	wg      sync.WaitGroup
	cur     []*Entry
	end     bool // the last batch is taken
	err     error
}

// batch is a batch of entries; one shorter than prefetchBatch is the
// last, with f's error if it failed.
type batch struct {
	entries []*Entry
	err     error
}

const prefetchBatch = 256

func newPrefetch(f finals) *prefetch {
	p := &prefetch{batches: make(chan batch, 2), stop: make(chan struct{})}
	p.wg.Go(func() {
		for {
			b := batch{entries: make([]*Entry, 0, prefetchBatch)}
			for len(b.entries) < prefetchBatch && b.err == nil {
				var e *Entry
				if e, b.err = f.next(); e == nil {
					break
				}
				b.entries = append(b.entries, e)
			}
			select {
			case p.batches <- b:
			case <-p.stop:
				return
			}
			if len(b.entries) < prefetchBatch {
				return
			}
		}
	})
	return p
}

func (p *prefetch) next() (*Entry, error) {
	for len(p.cur) == 0 {
		if p.end {
			return nil, p.err
		}
		b := <-p.batches
		p.cur = b.entries
		if len(b.entries) < prefetchBatch {
			p.end, p.err = true, b.err
		}
	}
	e := p.cur[0]
	p.cur = p.cur[1:]
	return e, nil
}

func (p *prefetch) close() {
	close(p.stop)
	p.wg.Wait()
}
