package mkinitrd

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/segcache"
)

// cacheTree writes a tree of files of mixed content under dir/data.
func cacheTree(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 120 {
		data := make([]byte, 1000+rng.IntN(20_000))
		for j := range data {
			data[j] = byte(rng.IntN(8)) + 'a'
		}
		p := filepath.Join(dir, fmt.Sprintf("data/d%d/f%03d", i%5, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		must(t, os.WriteFile(p, data, 0o644))
	}
}

// build builds the tree of dir with comp, into bytes.
func build(t *testing.T, dir string, comp compressors.Compressor, cache *segcache.Cache) ([]byte, *Result) {
	t.Helper()
	m, err := resolve.ParseManifest(strings.NewReader(`{"contents": [{"source": "/data"}]}`), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := Build(context.Background(), &out, m, Options{Root: dir, Compressor: comp, SegmentSize: 64 << 10, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), res
}

// TestCacheSameOutput: a build with a cache writes the bytes of a build
// without one, whether it compresses the segments or copies them, for
// each segmented compressor; a rebuild after a change copies all but the
// changed segments.
func TestCacheSameOutput(t *testing.T) {
	dir := t.TempDir()
	cacheTree(t, dir)
	for _, name := range []string{"zstd", "gzip", "xz", "zstd-cli", "xz-cli", "gzip-cli"} {
		t.Run(name, func(t *testing.T) {
			if tool, ok := strings.CutSuffix(name, compressors.CLISuffix); ok {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skip(err)
				}
			}
			comp, err := compressors.Lookup(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			cache, err := segcache.Open(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := build(t, dir, comp, nil)
			cold, res := build(t, dir, comp, cache)
			if !bytes.Equal(cold, want) || res.Copied != 0 || res.Segments < 5 {
				t.Fatalf("cold build: %d bytes, same %v, %d of %d segments copied; want the %d bytes of a build without a cache, none copied, at least 5 segments",
					len(cold), bytes.Equal(cold, want), res.Copied, res.Segments, len(want))
			}
			warm, res := build(t, dir, comp, cache)
			if !bytes.Equal(warm, want) || res.Copied != res.Segments {
				t.Errorf("rebuild: same %v, %d of %d segments copied; want the same bytes, all copied", bytes.Equal(warm, want), res.Copied, res.Segments)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings: %q", res.Warnings)
			}
		})
	}
	comp, _ := compressors.Lookup("zstd", 0)
	cache, _ := segcache.Open(t.TempDir(), 0)
	build(t, dir, comp, cache)
	must(t, os.WriteFile(filepath.Join(dir, "data/d2/f057"), []byte("changed"), 0o644))
	want, _ := build(t, dir, comp, nil)
	got, res := build(t, dir, comp, cache)
	// The changed segment, at most the next, and the trailer's.
	if !bytes.Equal(got, want) || res.Copied < res.Segments-3 {
		t.Errorf("after a change: same %v, %d of %d segments copied; want the same bytes, all but 3 at most copied", bytes.Equal(got, want), res.Copied, res.Segments)
	}
}

// TestCacheCorrupt: a corrupt entry is not copied: the build compresses
// the segment again, warns, and writes the same bytes.
func TestCacheCorrupt(t *testing.T) {
	dir := t.TempDir()
	cacheTree(t, dir)
	comp, _ := compressors.Lookup("zstd", 0)
	cache, err := segcache.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := build(t, dir, comp, cache)
	entries, _ := filepath.Glob(filepath.Join(cache.Dir(), "seg-*"))
	if len(entries) < 5 {
		t.Fatalf("%d entries", len(entries))
	}
	for _, p := range entries[:2] {
		b, _ := os.ReadFile(p)
		b[len(b)-5] ^= 0xff
		must(t, os.WriteFile(p, b, 0o600))
	}
	got, res := build(t, dir, comp, cache)
	if !bytes.Equal(got, want) || res.Copied != res.Segments-2 {
		t.Errorf("same bytes %v, %d of %d copied; want the same bytes, all but the 2 corrupt ones copied", bytes.Equal(got, want), res.Copied, res.Segments)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "corrupt entry") {
		t.Errorf("warnings %q, want one for each corrupt entry", res.Warnings)
	}
	if _, res := build(t, dir, comp, cache); res.Copied != res.Segments {
		t.Errorf("the corrupt entries were not replaced: %d of %d copied", res.Copied, res.Segments)
	}
}

// TestCacheNotKept: compressors whose output is one stream keep nothing,
// and lz4 says so.
func TestCacheNotKept(t *testing.T) {
	dir := t.TempDir()
	cacheTree(t, dir)
	for _, tt := range []struct{ name, warning string }{{"none", ""}, {"lz4", "one stream"}} {
		comp, _ := compressors.Lookup(tt.name, 0)
		cache, _ := segcache.Open(t.TempDir(), 0)
		want, _ := build(t, dir, comp, nil)
		got, res := build(t, dir, comp, cache)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the cache changed the output", tt.name)
		}
		if w := strings.Join(res.Warnings, "\n"); tt.warning == "" && w != "" || !strings.Contains(w, tt.warning) {
			t.Errorf("%s: warnings %q, want %q", tt.name, w, tt.warning)
		}
		if files, _ := os.ReadDir(cache.Dir()); len(files) != 0 {
			t.Errorf("%s: %d files in the cache", tt.name, len(files))
		}
	}
}

// TestCacheUnread: a rebuild copies the segments whose files are as they
// were without reading them; a file written in place, of the same size
// and modification time, is read again: its change time moved.
func TestCacheUnread(t *testing.T) {
	dir := t.TempDir()
	cacheTree(t, dir)
	time.Sleep(racyWindow + 100*time.Millisecond) // the files' changes are old enough to trust
	comp, _ := compressors.Lookup("zstd", 0)
	cache, _ := segcache.Open(t.TempDir(), 0)
	build(t, dir, comp, cache)
	if _, res := build(t, dir, comp, cache); res.Copied != res.Segments || res.Unread != res.Segments {
		t.Fatalf("rebuild: %d of %d segments copied, %d unread; want all", res.Copied, res.Segments, res.Unread)
	}
	p := filepath.Join(dir, "data/d3/f018")
	fi, err := os.Stat(p)
	must(t, err)
	b, _ := os.ReadFile(p)
	b[10] ^= 1
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	must(t, err)
	f.WriteAt(b[10:11], 10)
	f.Close()
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	want, _ := build(t, dir, comp, nil)
	got, res := build(t, dir, comp, cache)
	if !bytes.Equal(got, want) {
		t.Error("a file written in place, of the same size and time, was copied as it was")
	}
	if res.Copied != res.Segments-1 || res.Unread != res.Segments-1 {
		t.Errorf("after the write: %d of %d segments copied, %d unread; want all but one", res.Copied, res.Segments, res.Unread)
	}
}

// TestFingerprintOfCode: a segment of code that its compressor filters is
// kept under another key than the same bytes compressed without the
// filter; a compressor without a filter keeps one key for both.
func TestFingerprintOfCode(t *testing.T) {
	cache, err := segcache.Open(t.TempDir(), 0)
	must(t, err)
	for _, tt := range []struct {
		name     string
		filtered bool
	}{{"xz-cli", true}, {"zstd", false}} {
		comp, err := compressors.Lookup(tt.name, 0)
		if err != nil {
			t.Skip(err)
		}
		k, warning := newKeeper(cache, comp)
		if k == nil {
			t.Fatalf("%s: no keeper: %s", tt.name, warning)
		}
		code, data := k.fingerprintOf(compressors.X86Code), k.fingerprintOf(compressors.NoCode)
		if (code != data) != tt.filtered || data != k.fingerprint {
			t.Errorf("%s: fingerprint of code %q, of data %q; want them to differ: %v", tt.name, code, data, tt.filtered)
		}
	}
}
