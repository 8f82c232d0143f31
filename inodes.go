package mkinitrd

import (
	"iter"
	"slices"

	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// inodes numbers the records of an archive from their paths, so that a
// record's bytes do not depend on the records before it: a segment of
// the archive is the same whatever comes before it, and a cache can
// reuse it. Every name of a hard-link group takes the number of the
// group's last name, the one that carries the data. The numbers are
// unique in the archive, as tools that unpack it (bsdtar, cpio) take
// records with equal numbers and a link count of 2, directories
// included, for hard links. A path whose number another path before it
// already has gets another: only a collision of 32-bit hashes moves a
// number, and it moves only that path's.
type inodes struct {
	moved map[string]uint32 // the numbers of the paths a collision moved
}

// numberInodes numbers the records of entries, whose hard-link groups
// are links.
func numberInodes(entries iter.Seq[*resolve.Entry], links map[string]*linkGroup) inodes {
	var all []uint32
	for key := range inodeKeys(entries, links) {
		all = append(all, inodeOf(key, 0))
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	dups := map[uint32]bool{}
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			dups[sorted[i]] = true
		}
	}
	t := inodes{}
	if len(dups) == 0 {
		return t
	}
	t.moved = map[string]uint32{}
	seen, taken := map[uint32]bool{}, map[uint32]bool{}
	for key := range inodeKeys(entries, links) {
		n := inodeOf(key, 0)
		if !dups[n] || !seen[n] {
			seen[n] = true
			continue
		}
		for k := uint64(1); ; k++ {
			n = inodeOf(key, k)
			if _, used := slices.BinarySearch(sorted, n); !used && !taken[n] {
				break
			}
		}
		taken[n] = true
		t.moved[key] = n
	}
	return t
}

// inodeKeys yields the path each record's number is made from, once per
// number: a record's own path, or its hard-link group's last name.
func inodeKeys(entries iter.Seq[*resolve.Entry], links map[string]*linkGroup) iter.Seq[string] {
	return func(yield func(string) bool) {
		groups := map[*linkGroup]bool{}
		for e := range entries {
			key := e.Path
			if g := links[e.HardLink]; g != nil && e.Kind == resolve.File {
				if groups[g] {
					continue
				}
				groups[g], key = true, g.last
			}
			if !yield(key) {
				return
			}
		}
	}
}

// of returns the number of e, a name of the hard-link group g (nil for
// none).
func (t inodes) of(e *resolve.Entry, g *linkGroup) uint32 {
	key := e.Path
	if g != nil && e.Kind == resolve.File {
		key = g.last
	}
	if n, ok := t.moved[key]; ok {
		return n
	}
	return inodeOf(key, 0)
}

// inodeOf is the inode number that try k gives path: a hash, never 0.
func inodeOf(path string, k uint64) uint32 {
	for {
		if n := uint32(pathHash(path, k)); n != 0 {
			return n
		}
		k += 1 << 32 // another try that no collision takes
	}
}

// pathHash hashes path with a salt: FNV-1a, whose low bits alone are not
// well mixed, finished with SplitMix64's mixer, so that every bit
// depends on every byte.
func pathHash(path string, salt uint64) uint64 {
	h := uint64(14695981039346656037) ^ salt
	for i := 0; i < len(path); i++ {
		h ^= uint64(path[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
