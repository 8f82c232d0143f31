package resolve

import (
	"encoding/binary"
	"io/fs"
	"iter"
)

// Packed holds a closure's entries in a compact encoding, for a large
// build's archive phase: the entries are then only read in order, while
// the compressors' buffers are live, and a []Entry costs about 240 bytes
// an entry where this costs about 16. Each path is front-coded against
// the one before it (sorted paths share most of their bytes), numbers are
// varints, and the reasons and hard-link keys are indexes into a table of
// their distinct values (a directory's children share one reason).
type Packed struct {
	buf  []byte
	n    int
	strs []string // Why, From and HardLink values, by index
}

// Flags of one packed entry: which optional fields follow.
const (
	packSourceIsPath = 1 << iota
	packSource
	packData
	packLink
	packHardLink
	packDecompress
	packDevice
)

// Pack encodes entries; they are not changed. Unpack gives them back.
func Pack(entries []Entry) *Packed {
	p := &Packed{n: len(entries)}
	index := map[string]uint64{}
	str := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(p.strs))
			index[s] = i
			p.strs = append(p.strs, s)
		}
		return i
	}
	var prev string
	for i := range entries {
		e := &entries[i]
		shared := commonPrefix(prev, e.Path)
		p.uvarint(uint64(shared))
		appendBytes(p, e.Path[shared:])
		prev = e.Path
		flags := packFlags(e)
		p.buf = append(p.buf, byte(e.Kind), flags)
		p.uvarint(uint64(e.Mode))
		p.uvarint(uint64(e.UID))
		p.uvarint(uint64(e.GID))
		p.uvarint(uint64(e.Size))
		p.uvarint(str(e.Why))
		p.uvarint(str(e.From))
		if flags&packSource != 0 {
			appendBytes(p, e.Source)
		}
		if flags&packData != 0 {
			appendBytes(p, e.Data)
		}
		if flags&packLink != 0 {
			appendBytes(p, e.LinkTarget)
		}
		if flags&packHardLink != 0 {
			p.uvarint(str(e.HardLink))
		}
		if flags&packDevice != 0 {
			p.uvarint(uint64(e.Major))
			p.uvarint(uint64(e.Minor))
		}
	}
	p.buf = append([]byte(nil), p.buf...) // drop the spare capacity of growing
	return p
}

func packFlags(e *Entry) byte {
	var f byte
	switch e.Source {
	case "":
	case e.Path:
		f |= packSourceIsPath
	default:
		f |= packSource
	}
	if e.Data != nil {
		f |= packData
	}
	if e.LinkTarget != "" {
		f |= packLink
	}
	if e.HardLink != "" {
		f |= packHardLink
	}
	if e.Decompress {
		f |= packDecompress
	}
	if e.Major != 0 || e.Minor != 0 {
		f |= packDevice
	}
	return f
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func (p *Packed) uvarint(v uint64) { p.buf = binary.AppendUvarint(p.buf, v) }

// appendBytes appends s with its length; a []byte needs no string copy.
func appendBytes[T string | []byte](p *Packed, s T) {
	p.uvarint(uint64(len(s)))
	p.buf = append(p.buf, s...)
}

// Len returns the number of entries.
func (p *Packed) Len() int { return p.n }

// Size returns the bytes the encoding takes, not counting the table of
// distinct reasons.
func (p *Packed) Size() int { return len(p.buf) }

// All yields the entries in order. The Entry is reused from one step to
// the next: copy it to keep it.
func (p *Packed) All() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		d := packedReader{p: p}
		var e Entry
		var path []byte
		for range p.n {
			path = d.next(&e, path)
			if !yield(&e) {
				return
			}
		}
	}
}

// Unpack returns the entries as Pack got them.
func (p *Packed) Unpack() []Entry {
	out := make([]Entry, 0, p.n)
	for e := range p.All() {
		out = append(out, *e)
	}
	return out
}

// packedReader decodes a Packed's entries in order. The encoding is our
// own and complete, so it cannot fail.
type packedReader struct {
	p   *Packed
	off int
}

func (d *packedReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.p.buf[d.off:])
	d.off += n
	return v
}

func (d *packedReader) bytes() []byte {
	n := int(d.uvarint())
	b := d.p.buf[d.off : d.off+n]
	d.off += n
	return b
}

// next decodes one entry into e; path is the previous entry's path,
// whose buffer it returns for reuse.
func (d *packedReader) next(e *Entry, path []byte) []byte {
	shared := int(d.uvarint())
	path = append(path[:shared], d.bytes()...)
	*e = Entry{Path: string(path), Kind: Kind(d.p.buf[d.off])}
	flags := d.p.buf[d.off+1]
	d.off += 2
	e.Mode = fs.FileMode(d.uvarint())
	e.UID = uint32(d.uvarint())
	e.GID = uint32(d.uvarint())
	e.Size = int64(d.uvarint())
	e.Why = d.p.strs[d.uvarint()]
	e.From = d.p.strs[d.uvarint()]
	if flags&packSourceIsPath != 0 {
		e.Source = e.Path
	}
	if flags&packSource != 0 {
		e.Source = string(d.bytes())
	}
	if flags&packData != 0 {
		e.Data = append([]byte{}, d.bytes()...)
	}
	if flags&packLink != 0 {
		e.LinkTarget = string(d.bytes())
	}
	if flags&packHardLink != 0 {
		e.HardLink = d.p.strs[d.uvarint()]
	}
	e.Decompress = flags&packDecompress != 0
	if flags&packDevice != 0 {
		e.Major = uint32(d.uvarint())
		e.Minor = uint32(d.uvarint())
	}
	return path
}
