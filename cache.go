package mkinitrd

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/segcache"
)

// keeper keeps the compressed segments of a build in a cache and copies
// back those it holds. A segment's key hashes its uncompressed bytes.
// The hint of a segment's layout names the key its bytes had last time,
// with the state of the files they were read from; when the files are
// as they were, the segment is copied without reading them, else it is
// written once without a compressor to learn its key. A segment with no
// hint is compressed at once, hashed on the way, and kept, so that a
// cold build reads its files once.
type keeper struct {
	cache       *segcache.Cache
	comp        compressors.Compressor
	fingerprint string       // comp's
	copied      atomic.Int64 // segments copied from the cache
	unread      atomic.Int64 // of those, segments whose files were not read
}

// newKeeper returns the keeper of a build with comp; nil, with the
// reason as a warning when there is one, when comp's segments cannot be
// kept.
func newKeeper(cache *segcache.Cache, comp compressors.Compressor) (*keeper, string) {
	if cache == nil || comp.Name() == "none" {
		return nil, ""
	}
	if !compressors.Segmented(comp) {
		return nil, fmt.Sprintf("cache: %s is one stream, which is not kept", comp.Name())
	}
	fp, err := compressors.Fingerprint(comp)
	if err != nil {
		return nil, fmt.Sprintf("cache: not used: %v", err)
	}
	return &keeper{cache: cache, comp: comp, fingerprint: fp}, ""
}

// fingerprintOf returns the fingerprint of the compressor of a segment
// of code: comp's, with the command line of its filter when it has one.
func (k *keeper) fingerprintOf(code compressors.Code) string {
	c, filtered := compressors.ForCode(k.comp, code)
	if !filtered {
		return k.fingerprint
	}
	return fmt.Sprintf("%s; %v: %v", k.fingerprint, code, c)
}

// fill writes s through p: copied from the cache if it holds s, else
// compressed and kept.
func (k *keeper) fill(sw *segmentWriter, s segment, p *compressors.Part) error {
	files, stable := k.files(sw.a, s)
	if copied, err := k.copy(sw, s, p, files, stable); copied || err != nil {
		return err
	}
	pending := k.cache.Put()
	zw, err := p.CompressCode(s.code, pending)
	if err != nil {
		pending.Abort()
		return err
	}
	h := segcache.NewHash(segcache.KindSegment, k.fingerprintOf(s.code))
	err = sw.write(&hashedWriter{w: zw, h: h}, s)
	if err == nil {
		err = p.Close()
	}
	if err != nil {
		pending.Abort()
		return err
	}
	key := h.Sum()
	pending.Commit(key)
	k.hint(s, key, files, stable)
	return nil
}

// hint records the key of s's bytes and, when stable, the state of its
// files.
func (k *keeper) hint(s segment, key, files segcache.Key, stable bool) {
	h := segcache.Hint{Key: key}
	if stable {
		h.Files = files
	}
	k.cache.SetHint(s.layout, h)
}

// copy copies s from the cache, if the hint of its layout names an entry
// and s's bytes have that entry's key, or another's that the cache
// holds. The bytes are read to learn their key unless the files are as
// the hint says.
func (k *keeper) copy(sw *segmentWriter, s segment, p *compressors.Part, files segcache.Key, stable bool) (bool, error) {
	hint, ok := k.cache.Hint(s.layout)
	if !ok || !k.cache.Has(hint.Key) {
		return false, nil
	}
	key, unread := hint.Key, stable && hint.Files == files
	if !unread {
		h := segcache.NewHash(segcache.KindSegment, k.fingerprintOf(s.code))
		if err := sw.write(h, s); err != nil {
			return false, err
		}
		key = h.Sum()
	}
	e := k.cache.Get(key)
	if e == nil {
		return false, nil
	}
	defer e.Close()
	w, err := p.Raw(0)
	if err == nil {
		_, err = e.WriteTo(w)
	}
	if err != nil {
		return true, err
	}
	k.copied.Add(1)
	if unread {
		k.unread.Add(1)
	} else if stable {
		k.hint(s, key, files, stable)
	}
	return true, nil
}

// racyWindow is how long after its last change a file's state is not
// trusted: a change within the same tick of the clock that stamps it
// would leave the state as it was. Filesystems stamp to 2 seconds at
// the coarsest (FAT); git's index is racy in the same way.
const racyWindow = 2 * time.Second

// files hashes the state of the files s's records are read from, as
// git's index does: for each, its device and inode, size, modification
// and change times; inline content itself. Any write to a file moves
// its change time, so files whose state is as it was hold the bytes
// they held. The state is not stable when a file changed less than
// racyWindow ago, or cannot be looked at: then it is not trusted.
func (k *keeper) files(a *archiver, s segment) (segcache.Key, bool) {
	h := segcache.NewHash(segcache.KindFiles, k.fingerprint)
	h.Write(s.layout[:])
	if s.entries == nil {
		return h.Sum(), true
	}
	recent := time.Now().Add(-racyWindow).UnixNano()
	for e := range s.entries.All() {
		if e.Kind != resolve.File {
			continue
		}
		if e.Source == "" {
			binary.Write(h, binary.LittleEndian, int64(len(e.Data)))
			h.Write(e.Data)
			continue
		}
		fi, err := a.src.fsys.Lstat(e.Source)
		if err != nil {
			return segcache.Key{}, false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Ctim.Nano() >= recent || st.Mtim.Nano() >= recent {
			return segcache.Key{}, false
		}
		fmt.Fprintf(h, "%d %d %d %d %d %t %q\n", st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano(), e.Decompress, e.Source)
	}
	return h.Sum(), true
}

// hashedWriter writes to w and hashes what it writes. It reads through
// w's own ReadFrom where w has one, as a build without a cache does: a
// zstd encoder starts a block at each ReadFrom, so the compressed bytes
// depend on it.
type hashedWriter struct {
	w io.Writer
	h io.Writer
}

func (hw *hashedWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	return n, err
}

func (hw *hashedWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := hw.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(io.TeeReader(r, hw.h))
	}
	return io.Copy(struct{ io.Writer }{hw}, r)
}
