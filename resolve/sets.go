package resolve

import (
	"cmp"
	"container/heap"
	"hash/maphash"
	"slices"
)

// hashSet is a set of keys held as 128-bit hashes rather than as strings,
// so that it keeps no path string alive and costs 16 bytes a key. Two independent
// maphash seeds make the chance that any two keys of n collide about
// n²/2¹²⁹, nil for any tree that fits a disk. It is not safe for
// concurrent use: the resolver touches it only while merging a batch.
type hashSet struct {
	seeds [2]maphash.Seed
	m     map[[2]uint64]struct{}
}

func newHashSet() *hashSet {
	return &hashSet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: map[[2]uint64]struct{}{}}
}

// key hashes a string, a variant and flags as one key.
func (s *hashSet) key(str, variant string, flags byte) [2]uint64 {
	var k [2]uint64
	for i, seed := range s.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		h.WriteString(str)
		h.WriteByte(0)
		h.WriteString(variant)
		h.WriteByte(flags)
		k[i] = h.Sum64()
	}
	return k
}

// add adds the key and reports whether it was new.
func (s *hashSet) add(k [2]uint64) bool {
	if _, ok := s.m[k]; ok {
		return false
	}
	s.m[k] = struct{}{}
	return true
}

// runSize is how many found entries are gathered, sorted and packed at a
// time: big enough that a 100,000-file tree makes few runs to merge,
// small next to that tree's entries as a []Entry.
const runSize = 4096

// sortedRuns holds entries as sorted runs of packed entries, and gives
// them back merged in path order: a large closure is never held as a
// []Entry at once. Paths must be unique across the runs.
type sortedRuns struct {
	pending []Entry
	runs    []*Packed
}

func (s *sortedRuns) add(e *Entry) {
	s.pending = append(s.pending, *e)
	if len(s.pending) >= runSize {
		s.flush()
	}
}

// addRun adds entries already packed in path order.
func (s *sortedRuns) addRun(p *Packed) {
	if p.Len() > 0 {
		s.runs = append(s.runs, p)
	}
}

// flush packs the pending entries as a run.
func (s *sortedRuns) flush() {
	if len(s.pending) == 0 {
		return
	}
	slices.SortFunc(s.pending, func(a, b Entry) int { return cmp.Compare(a.Path, b.Path) })
	s.addRun(Pack(s.pending))
	clear(s.pending)
	s.pending = s.pending[:0]
}

// merged yields every entry in path order. The Entry is reused from one
// step to the next.
func (s *sortedRuns) merged(yield func(*Entry)) {
	s.flush()
	var h cursorHeap
	for _, r := range s.runs {
		if c := newCursor(r); c.Next() {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		c := h[0]
		yield(&c.E)
		if c.Next() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
}

// cursorHeap orders cursors by the path of their current entry.
type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].E.Path < h[j].E.Path }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
