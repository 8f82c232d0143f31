package resolve

import (
	"debug/elf"
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
	packMachine
)

// Pack encodes entries; they are not changed. Unpack gives them back.
func Pack(entries []Entry) *Packed {
	var k Packer
	for i := range entries {
		k.Add(&entries[i])
	}
	return k.Packed()
}

// Packer builds a Packed one entry at a time, so that entries never need
// to be held as a []Entry. The zero Packer is ready to use.
type Packer struct {
	p     *Packed
	index map[string]uint64 // strs' indexes
	prev  string            // the last path added
}

// Add encodes a copy of e after the entries added before it.
func (k *Packer) Add(e *Entry) {
	if k.p == nil {
		k.p, k.index = &Packed{}, map[string]uint64{}
	}
	p := k.p
	p.n++
	shared := commonPrefix(k.prev, e.Path)
	p.uvarint(uint64(shared))
	appendBytes(p, e.Path[shared:])
	k.prev = e.Path
	flags := packFlags(e)
	p.buf = append(p.buf, byte(e.Kind), flags)
	p.uvarint(uint64(e.Mode))
	p.uvarint(uint64(e.UID))
	p.uvarint(uint64(e.GID))
	p.uvarint(uint64(e.Size))
	p.uvarint(k.str(e.Why))
	p.uvarint(k.str(e.From))
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
		p.uvarint(k.str(e.HardLink))
	}
	if flags&packDevice != 0 {
		p.uvarint(uint64(e.Major))
		p.uvarint(uint64(e.Minor))
	}
	if flags&packMachine != 0 {
		p.uvarint(uint64(e.Machine))
	}
}

// str returns s's index in the table of distinct strings.
func (k *Packer) str(s string) uint64 {
	i, ok := k.index[s]
	if !ok {
		i = uint64(len(k.p.strs))
		k.index[s] = i
		k.p.strs = append(k.p.strs, s)
	}
	return i
}

// Packed returns what was added and empties the Packer.
func (k *Packer) Packed() *Packed {
	p := k.p
	if p == nil {
		p = &Packed{}
	}
	p.buf = append([]byte(nil), p.buf...) // drop the spare capacity of growing
	*k = Packer{}
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
	if e.Machine != elf.EM_NONE {
		f |= packMachine
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
		for c := newCursor(p); c.Next(); {
			if !yield(&c.E) {
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

// cursor steps through a Packed's entries: Next decodes the next one
// into E. Merging sorted Packeds needs several at once, which All's
// push iteration cannot give.
type cursor struct {
	d    packedReader
	left int
	E    Entry
	path []byte
}

func newCursor(p *Packed) *cursor { return &cursor{d: packedReader{p: p}, left: p.n} }

// Next decodes the next entry, and reports false at the end.
func (c *cursor) Next() bool {
	if c.left == 0 {
		return false
	}
	c.left--
	c.path = c.d.next(&c.E, c.path)
	return true
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
	if flags&packMachine != 0 {
		e.Machine = elf.Machine(d.uvarint())
	}
	return path
}
