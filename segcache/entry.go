package segcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
)

// ErrChanged is the error of an entry whose file changed while it was
// copied: the copy must not be used.
var ErrChanged = errors.New("segcache: the entry changed while it was copied")

// Entry is a checked entry of the cache, open for copying.
type Entry struct {
	f    *os.File
	size int64  // its bytes, after the header
	crc  uint32 // their CRC-32C, as Get read them
}

// Get returns the entry of k, checked: its header names k and its
// length, and its bytes hash to the header's sum. It returns nil when
// there is no entry of k. A corrupt entry is removed, with a warning.
func (c *Cache) Get(k Key) *Entry {
	if c.absent {
		return nil
	}
	p := c.path(segmentPrefix, k)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		c.warn("%s: %v; compressing the segment again", p, err)
		return nil
	}
	e, err := check(f, k)
	if err != nil {
		f.Close()
		c.warn("%s: corrupt entry (%v): removed, and the segment compressed again", p, err)
		os.Remove(p)
		return nil
	}
	touch(p)
	return e
}

// check reads the entry in f through and returns it, positioned at its
// bytes.
func check(f *os.File, k Key) (*Entry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var h header
	if err := h.check(f, k, fi.Size()); err != nil {
		return nil, err
	}
	sum, crc := sha256.New(), crc32.New(castagnoli)
	if _, err := io.CopyBuffer(io.MultiWriter(sum, crc), struct{ io.Reader }{f}, make([]byte, copySize)); err != nil {
		return nil, err
	}
	if !bytes.Equal(sum.Sum(nil), h.Sum[:]) {
		return nil, errors.New("its bytes do not match its hash")
	}
	if _, err := f.Seek(headerSize, io.SeekStart); err != nil {
		return nil, err
	}
	return &Entry{f: f, size: int64(h.Length), crc: crc.Sum32()}, nil
}

// copySize is the size of the reads of an entry: few system calls for
// entries of megabytes.
const copySize = 256 << 10

// castagnoli is the CRC-32C table, which the CPU computes where it can:
// a check of the copy that costs next to nothing.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Size returns the length of the entry's bytes.
func (e *Entry) Size() int64 { return e.size }

// WriteTo copies the entry's bytes to w. Bytes that differ from those
// Get checked fail with ErrChanged: entries are never written in place,
// so only damage does that, and what was copied must then be thrown
// away.
func (e *Entry) WriteTo(w io.Writer) (int64, error) {
	crc := crc32.New(castagnoli)
	n, err := io.CopyBuffer(io.MultiWriter(w, crc), io.LimitReader(e.f, e.size), make([]byte, copySize))
	if err == nil && (n != e.size || crc.Sum32() != e.crc) {
		err = fmt.Errorf("%w: %s", ErrChanged, e.f.Name())
	}
	return n, err
}

// Close closes the entry's file.
func (e *Entry) Close() error { return e.f.Close() }

// Pending is an entry being written: its bytes go to a temporary file as
// they come, and Commit renames it into place under its key.
type Pending struct {
	c   *Cache
	f   *os.File // nil once writing failed
	sum hash.Hash
	n   int64
}

// Put starts an entry. Its Write never fails, so that a cache that
// cannot be written never stops a build: the failure is a warning, and
// Commit then keeps nothing.
func (c *Cache) Put() *Pending {
	p := &Pending{c: c, sum: sha256.New()}
	f, err := c.create()
	if err != nil {
		return p
	}
	// Room for the header, written once the key and sum are known.
	if _, err := f.Write(make([]byte, headerSize)); err != nil {
		p.fail(err)
		return p
	}
	p.f = f
	return p
}

// Write adds b to the entry.
func (p *Pending) Write(b []byte) (int, error) {
	if p.f == nil {
		return len(b), nil
	}
	if _, err := p.f.Write(b); err != nil {
		p.fail(err)
		return len(b), nil
	}
	p.sum.Write(b)
	p.n += int64(len(b))
	return len(b), nil
}

func (p *Pending) fail(err error) {
	if p.f != nil {
		p.f.Close()
		os.Remove(p.f.Name())
		p.f = nil
	}
	p.c.writeFailed(err)
}

// Commit keeps the entry as the segment of key k.
func (p *Pending) Commit(k Key) {
	if p.f == nil {
		return
	}
	h := header{Magic: magic, Key: k, Length: uint64(p.n)}
	p.sum.Sum(h.Sum[:0])
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, &h)
	if _, err := p.f.WriteAt(b.Bytes(), 0); err != nil {
		p.fail(err)
		return
	}
	f := p.f
	p.f = nil
	p.c.commit(f, p.c.path(segmentPrefix, k))
}

// Abort throws the entry away.
func (p *Pending) Abort() {
	if p.f != nil {
		p.f.Close()
		os.Remove(p.f.Name())
		p.f = nil
	}
}
