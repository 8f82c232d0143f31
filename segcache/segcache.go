// Package segcache keeps the compressed segments of initrd images in a
// directory, so that a rebuild copies each segment it has compressed
// before instead of compressing it again.
//
// An entry is keyed by a hash of the segment's uncompressed bytes and of
// the compressor's fingerprint (compressors.Fingerprint): everything that
// decides its compressed bytes. The cache is safe to share and to lose:
//
//   - an entry is written to a temporary file and renamed into place, so
//     that a reader sees a whole entry or none;
//   - an entry holds its key, its length and a hash of its bytes, which Get
//     checks before it hands the entry out: a corrupt entry is removed,
//     with a warning, and never used;
//   - builds that run at once may share one directory: each writes its own
//     temporary files, and two entries of one key hold the same bytes;
//   - Trim evicts the least recently used entries beyond the cache's size.
//
// A hint maps a segment's layout (its headers, known before any file is
// read) to the key its bytes had last time: a segment without a hint is
// compressed at once, hashed on the way, where a lookup would have read
// its files twice.
package segcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Key identifies a segment: a SHA-256 hash of what it is made of.
type Key [sha256.Size]byte

// String is the key in hexadecimal, as entries' file names spell it.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Hash computes a Key. Kind separates the kinds of keys, so that a
// segment's bytes and its layout never give one key.
type Hash struct{ h hash.Hash }

// Kinds of keys.
const (
	KindSegment = "segment" // a segment's uncompressed bytes
	KindLayout  = "layout"  // a segment's headers, the key of a hint
	KindFiles   = "files"   // the state of the files a segment is read from
)

// NewHash returns a Hash of a kind of key for a compressor's
// fingerprint; the bytes hashed follow through Write.
func NewHash(kind, fingerprint string) *Hash {
	h := sha256.New()
	fmt.Fprintf(h, "mkinitrd-ng segcache\x00%s\x00%d\x00%s\x00", kind, len(fingerprint), fingerprint)
	return &Hash{h: h}
}

// Write adds p to the hash; it never fails.
func (h *Hash) Write(p []byte) (int, error) { return h.h.Write(p) }

// Sum returns the key of what was written.
func (h *Hash) Sum() Key {
	var k Key
	h.h.Sum(k[:0])
	return k
}

// Cache is a directory of compressed segments. Its methods are safe for
// concurrent use.
type Cache struct {
	dir string // the entries' directory, in a version of its own
	max int64  // the size Trim keeps the cache within; 0 for no bound

	mu       sync.Mutex
	warnings []string
	wrote    bool // an entry was written since the last Trim
	failed   bool // writing failed once: the rest is not tried
	absent   bool // the directory could not be made: nothing is read
}

// DefaultMax is the size a cache is kept within when Open is given 0:
// room for the segments of dozens of images.
const DefaultMax = 1 << 30

// version names the directory of the entries' format: another format
// gets another directory, and the old one is left to whoever removes
// the cache.
const version = "v1"

// Open returns the cache in dir, creating the directory (readable by its
// owner only: the segments hold the images' files) if it is missing.
// max is the size, in bytes, Trim keeps it within (0: DefaultMax). A
// directory that cannot be created makes a cache that holds nothing and
// keeps nothing, with a warning: a cache never stops a build.
func Open(dir string, max int64) (*Cache, error) {
	if max < 0 {
		return nil, fmt.Errorf("segcache: size %d: must be 0 (default) or more", max)
	}
	if max == 0 {
		max = DefaultMax
	}
	c := &Cache{dir: filepath.Join(dir, version), max: max}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		c.writeFailed(err)
		c.absent = true
	}
	return c, nil
}

// Dir returns the directory of the entries.
func (c *Cache) Dir() string { return c.dir }

// Warnings returns what went wrong and was worked around since the last
// call: corrupt entries, failed writes.
func (c *Cache) Warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.warnings
	c.warnings = nil
	return w
}

func (c *Cache) warn(format string, args ...any) {
	c.mu.Lock()
	c.warnings = append(c.warnings, "cache: "+fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// path returns the file of an entry or hint.
func (c *Cache) path(prefix string, k Key) string {
	return filepath.Join(c.dir, prefix+k.String())
}

const (
	segmentPrefix = "seg-"
	hintPrefix    = "hint-"
	tempPrefix    = ".tmp-"
)

// Has reports whether the cache holds an entry of k, without checking
// it.
func (c *Cache) Has(k Key) bool {
	_, err := os.Stat(c.path(segmentPrefix, k))
	return err == nil
}

// Hint is what the cache knows of a segment by its layout: the key its
// bytes had when it was last written, and a hash of the state of the
// files they were read from (their sizes, times and inode numbers), zero
// when it was not recorded.
type Hint struct {
	Key   Key
	Files Key
}

// hintMagic starts a hint file, which then holds the layout, the hint
// and a SHA-256 hash of all that: a hint names the bytes of a segment,
// so a damaged one must not be taken.
var hintMagic = [8]byte{'M', 'K', 'H', 'I', 'N', 'T', '0', '1'}

// Hint returns the hint of the segment of layout.
func (c *Cache) Hint(layout Key) (Hint, bool) {
	p := c.path(hintPrefix, layout)
	b, err := os.ReadFile(p)
	if err != nil || len(b) != len(hintMagic)+4*len(layout) {
		return Hint{}, false
	}
	body := b[:len(b)-len(layout)]
	if sum := sha256.Sum256(body); Key(b[len(body):]) != sum || [8]byte(b[:8]) != hintMagic || Key(b[8:40]) != layout {
		return Hint{}, false
	}
	touch(p)
	return Hint{Key: Key(b[40:72]), Files: Key(b[72:104])}, true
}

// SetHint records the hint of the segment of layout.
func (c *Cache) SetHint(layout Key, h Hint) {
	b := append(append(append(hintMagic[:], layout[:]...), h.Key[:]...), h.Files[:]...)
	sum := sha256.Sum256(b)
	c.writeFile(c.path(hintPrefix, layout), append(b, sum[:]...))
}

// writeFile writes a small file atomically; a failure is a warning.
func (c *Cache) writeFile(path string, data []byte) {
	f, err := c.create()
	if err != nil {
		return
	}
	if _, err := f.Write(data); err != nil {
		c.writeFailed(err)
		f.Close()
		os.Remove(f.Name())
		return
	}
	c.commit(f, path)
}

// create makes a temporary file in the cache, unless writing failed
// before.
func (c *Cache) create() (*os.File, error) {
	c.mu.Lock()
	failed := c.failed
	c.mu.Unlock()
	if failed {
		return nil, errors.New("segcache: not writable")
	}
	f, err := os.CreateTemp(c.dir, tempPrefix)
	if err != nil {
		c.writeFailed(err)
	}
	return f, err
}

// commit closes the temporary file f and renames it to path.
func (c *Cache) commit(f *os.File, path string) {
	err := f.Close()
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		c.writeFailed(err)
		return
	}
	c.mu.Lock()
	c.wrote = true
	c.mu.Unlock()
}

// writeFailed warns of the first failed write; the cache is not written
// again.
func (c *Cache) writeFailed(err error) {
	c.mu.Lock()
	first := !c.failed
	c.failed = true
	c.mu.Unlock()
	if first {
		c.warn("cannot write entries, building without keeping segments: %v", err)
	}
}

// touch marks a file as used now, for Trim's least recently used order.
// A file that another build removed in between is no matter.
func touch(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

// isTemp reports whether a name in the cache is a temporary file.
func isTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// header is what precedes an entry's bytes: a magic string, its key,
// its length and the SHA-256 hash of its bytes.
type header struct {
	Magic  [8]byte
	Key    Key
	Length uint64
	Sum    [sha256.Size]byte
}

var magic = [8]byte{'M', 'K', 'S', 'E', 'G', '0', '0', '1'}

// headerSize is the size of a header as binary.Write writes it.
var headerSize = int64(binary.Size(header{}))

// check reads the header of an entry file of size bytes and returns why
// it is not an entry of k, nil when it is one.
func (h *header) check(r io.Reader, k Key, size int64) error {
	if size < headerSize {
		return fmt.Errorf("%d bytes, shorter than a header", size)
	}
	if err := binary.Read(r, binary.BigEndian, h); err != nil {
		return err
	}
	switch {
	case h.Magic != magic:
		return errors.New("not an entry")
	case h.Key != k:
		return fmt.Errorf("holds the entry of %s", h.Key)
	case h.Length != uint64(size-headerSize):
		return fmt.Errorf("%d bytes, but its header says %d", size-headerSize, h.Length)
	}
	return nil
}
