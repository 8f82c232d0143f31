package inspect

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
)

// packedFinals holds the entries of a whole image packed in memory, for
// a diff of an image whose paths are not in sorted order: the entries
// must be sorted before they can be merged. An entry takes its path,
// link target and hard-link name, its 32-byte hash and a few bytes of
// numbers, where an Entry would take about three times as much.
type packedFinals struct {
	chunks  [][]byte
	refs    []int // chunk<<packedChunkShift | offset of each final entry, in path order
	scratch []byte
}

const packedChunkShift = 20 // 1 MiB chunks; an entry takes at most a few KiB

// packFinals reads every entry r gives and keeps the final one of each
// path, in path order.
func packFinals(r *Reader) (*packedFinals, error) {
	p := &packedFinals{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		p.add(e)
	}
	// Stable: of the records of one path, the last read stays last.
	slices.SortStableFunc(p.refs, func(a, b int) int { return bytes.Compare(p.path(a), p.path(b)) })
	kept := p.refs[:0]
	for i, ref := range p.refs {
		if i+1 < len(p.refs) && bytes.Equal(p.path(ref), p.path(p.refs[i+1])) {
			continue
		}
		kept = append(kept, ref)
	}
	p.refs = slices.Clip(kept)
	return p, nil
}

// add packs e: its path first, so that sorting reads only that.
func (p *packedFinals) add(e *Entry) {
	b := appendString(p.scratch[:0], e.Path)
	b = appendString(b, e.Type)
	b = appendString(b, e.Link)
	b = appendString(b, e.HardLink)
	var sum [sha256Len]byte
	n, _ := hex.Decode(sum[:], []byte(e.SHA256))
	b = append(b, byte(n))
	b = append(b, sum[:n]...)
	for _, v := range []uint64{uint64(e.Mode), uint64(e.UID), uint64(e.GID), uint64(e.Size), uint64(e.Major),
		uint64(e.Minor), uint64(e.MTime), uint64(e.NLink), uint64(e.DataSize), uint64(e.Segment)} {
		b = binary.AppendUvarint(b, v)
	}
	last := len(p.chunks) - 1
	if last < 0 || len(p.chunks[last])+len(b) > 1<<packedChunkShift {
		p.chunks = append(p.chunks, make([]byte, 0, 1<<packedChunkShift))
		last++
	}
	p.refs = append(p.refs, last<<packedChunkShift|len(p.chunks[last]))
	p.chunks[last] = append(p.chunks[last], b...)
	p.scratch = b
}

const sha256Len = 32

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// path returns the path of the entry at ref, without a copy.
func (p *packedFinals) path(ref int) []byte {
	b := p.chunks[ref>>packedChunkShift][ref&(1<<packedChunkShift-1):]
	n, k := binary.Uvarint(b)
	return b[k : k+int(n)]
}

func (p *packedFinals) next() (*Entry, error) {
	if len(p.refs) == 0 {
		return nil, nil
	}
	ref := p.refs[0]
	p.refs = p.refs[1:]
	u := unpacker{b: p.chunks[ref>>packedChunkShift][ref&(1<<packedChunkShift-1):]}
	e := &Entry{Path: u.string(), Type: u.string(), Link: u.string(), HardLink: u.string()}
	if n := int(u.b[0]); n > 0 {
		e.SHA256 = hex.EncodeToString(u.b[1 : 1+n])
	}
	u.b = u.b[1+int(u.b[0]):]
	e.Mode, e.UID, e.GID = Perm(u.uint()), uint32(u.uint()), uint32(u.uint())
	e.Size, e.Major, e.Minor = int64(u.uint()), uint32(u.uint()), uint32(u.uint())
	e.MTime, e.NLink, e.DataSize, e.Segment = int64(u.uint()), uint32(u.uint()), int64(u.uint()), int(u.uint())
	return e, nil
}

// unpacker reads what add packed.
type unpacker struct{ b []byte }

func (u *unpacker) uint() uint64 {
	v, k := binary.Uvarint(u.b)
	u.b = u.b[k:]
	return v
}

func (u *unpacker) string() string {
	n := int(u.uint())
	s := string(u.b[:n])
	u.b = u.b[n:]
	return s
}
