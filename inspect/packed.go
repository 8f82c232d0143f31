package inspect

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
)

// packed holds entries packed in memory, for what must see every entry
// before it writes any: the JSON listing, whose segments come first, and
// the diff of an image whose paths are not in sorted order. An entry
// takes its path, link target and hard-link name, its 32-byte hash and
// a few bytes of numbers, where an Entry takes several times as much.
type packed struct {
	chunks  [][]byte
	refs    []int // chunk<<packedChunkShift | offset of each entry
	scratch []byte
}

const packedChunkShift = 20 // 1 MiB chunks; an entry takes at most a few KiB

const sha256Len = 32

// packAll reads every entry r gives, in order.
func packAll(r *Reader) (*packed, error) {
	p := &packed{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		p.add(e)
	}
}

// add packs e: its path first, so that sorting reads only that.
func (p *packed) add(e *Entry) {
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

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// bytes returns the packed entry at ref.
func (p *packed) bytes(ref int) []byte {
	return p.chunks[ref>>packedChunkShift][ref&(1<<packedChunkShift-1):]
}

// path returns the path of the entry at ref, without a copy.
func (p *packed) path(ref int) []byte {
	b := p.bytes(ref)
	n, k := binary.Uvarint(b)
	return b[k : k+int(n)]
}

// entry unpacks the entry at ref.
func (p *packed) entry(ref int) *Entry {
	u := unpacker{b: p.bytes(ref)}
	e := &Entry{Path: u.string(), Type: u.string(), Link: u.string(), HardLink: u.string()}
	if n := int(u.b[0]); n > 0 {
		e.SHA256 = hex.EncodeToString(u.b[1 : 1+n])
	}
	u.b = u.b[1+int(u.b[0]):]
	e.Mode, e.UID, e.GID = Perm(u.uint()), uint32(u.uint()), uint32(u.uint())
	e.Size, e.Major, e.Minor = int64(u.uint()), uint32(u.uint()), uint32(u.uint())
	e.MTime, e.NLink, e.DataSize, e.Segment = int64(u.uint()), uint32(u.uint()), int64(u.uint()), int(u.uint())
	return e
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

// packedFinals gives the final entry of each path of a packed image, in
// path order.
type packedFinals struct {
	p    *packed
	refs []int
}

// packFinals reads every entry r gives and keeps the last of each path,
// the one the kernel leaves, in path order.
func packFinals(r *Reader) (*packedFinals, error) {
	p, err := packAll(r)
	if err != nil {
		return nil, err
	}
	// Stable: of the records of one path, the last read stays last.
	refs := p.refs
	slices.SortStableFunc(refs, func(a, b int) int { return bytes.Compare(p.path(a), p.path(b)) })
	kept := refs[:0]
	for i, ref := range refs {
		if i+1 < len(refs) && bytes.Equal(p.path(ref), p.path(refs[i+1])) {
			continue
		}
		kept = append(kept, ref)
	}
	return &packedFinals{p: p, refs: kept}, nil
}

func (f *packedFinals) next() (*Entry, error) {
	if len(f.refs) == 0 {
		return nil, nil
	}
	e := f.p.entry(f.refs[0])
	f.refs = f.refs[1:]
	return e, nil
}
