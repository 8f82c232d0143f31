package mkinitrd

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/segcache"
)

// keeper keeps the compressed segments of a build in a cache and copies
// back those it holds. A segment's key hashes its uncompressed bytes, so
// finding it means writing the segment once without compressing it;
// that is done only when the hint of the segment's layout names an
// entry, and every other segment is compressed at once, hashed on the
// way, and kept.
type keeper struct {
	cache       *segcache.Cache
	fingerprint string
	copied      atomic.Int64 // segments copied from the cache
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
	return &keeper{cache: cache, fingerprint: fp}, ""
}

// fill writes s through p: copied from the cache if it holds s, else
// compressed and kept.
func (k *keeper) fill(sw *segmentWriter, s segment, p *compressors.Part) error {
	if copied, err := k.copy(sw, s, p); copied || err != nil {
		return err
	}
	pending := k.cache.Put()
	zw, err := p.Compress(pending)
	if err != nil {
		pending.Abort()
		return err
	}
	h := segcache.NewHash(segcache.KindSegment, k.fingerprint)
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
	k.cache.SetHint(s.layout, key)
	return nil
}

// copy copies s from the cache, if the hint of its layout names an
// entry and s's bytes have that entry's key, or another's that the
// cache holds.
func (k *keeper) copy(sw *segmentWriter, s segment, p *compressors.Part) (bool, error) {
	hint, ok := k.cache.Hint(s.layout)
	if !ok || !k.cache.Has(hint) {
		return false, nil
	}
	h := segcache.NewHash(segcache.KindSegment, k.fingerprint)
	if err := sw.write(h, s); err != nil {
		return false, err
	}
	e := k.cache.Get(h.Sum())
	if e == nil {
		return false, nil
	}
	defer e.Close()
	w, err := p.Raw(0)
	if err == nil {
		_, err = e.WriteTo(w)
	}
	if err == nil {
		k.copied.Add(1)
	}
	return true, err
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
