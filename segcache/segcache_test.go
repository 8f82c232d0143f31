package segcache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func key(s string) Key {
	h := NewHash(KindSegment, "test")
	h.Write([]byte(s))
	return h.Sum()
}

func put(c *Cache, k Key, data []byte) {
	p := c.Put()
	p.Write(data)
	p.Commit(k)
}

func get(t *testing.T, c *Cache, k Key) ([]byte, bool) {
	t.Helper()
	e := c.Get(k)
	if e == nil {
		return nil, false
	}
	defer e.Close()
	var b bytes.Buffer
	if _, err := e.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), true
}

func TestRoundTrip(t *testing.T) {
	c, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	k := key("a")
	if _, ok := get(t, c, k); ok || c.Has(k) {
		t.Fatal("an empty cache has an entry")
	}
	data := bytes.Repeat([]byte("compressed"), 10_000)
	put(c, k, data)
	if got, ok := get(t, c, k); !ok || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d put", len(got), ok, len(data))
	}
	aborted := c.Put()
	aborted.Write([]byte("never"))
	aborted.Abort()
	if _, ok := get(t, c, key("never")); ok {
		t.Error("an aborted entry is kept")
	}
	if fi, err := os.Stat(c.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestCorrupt: an entry that is damaged in any way is not used: Get
// returns nothing, warns, and removes it.
func TestCorrupt(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	tests := []struct {
		name   string
		damage func(path string, b []byte) []byte
		want   string
	}{
		{"truncated", func(_ string, b []byte) []byte { return b[:len(b)-1] }, "header says"},
		{"a byte flipped", func(_ string, b []byte) []byte { b[len(b)-10] ^= 1; return b }, "do not match"},
		{"no header", func(_ string, b []byte) []byte { return b[:10] }, "shorter than a header"},
		{"not an entry", func(_ string, b []byte) []byte { b[0] = 'X'; return b }, "not an entry"},
		{"another key's", func(_ string, b []byte) []byte { b[9] ^= 1; return b }, "holds the entry of"},
		{"grown", func(_ string, b []byte) []byte { return append(b, 0) }, "header says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			k := key(tt.name)
			put(c, k, data)
			p := c.path(segmentPrefix, k)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.damage(p, b), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, ok := get(t, c, k); ok {
				t.Fatalf("a corrupt entry was used (%d bytes)", len(got))
			}
			if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "corrupt entry") || !strings.Contains(w[0], tt.want) {
				t.Errorf("warnings %q, want one of a corrupt entry saying %q", w, tt.want)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Error("the corrupt entry is still there")
			}
		})
	}
}

// TestChangedWhileCopied: an entry written in place after Get checked it
// fails the copy.
func TestChangedWhileCopied(t *testing.T) {
	c, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	k := key("x")
	put(c, k, []byte("original bytes"))
	e := c.Get(k)
	if e == nil {
		t.Fatal("no entry")
	}
	defer e.Close()
	f, err := os.OpenFile(c.path(segmentPrefix, k), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), headerSize)
	f.Close()
	if _, err := e.WriteTo(&bytes.Buffer{}); !errors.Is(err, ErrChanged) {
		t.Errorf("WriteTo = %v, want ErrChanged", err)
	}
}

func TestUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	c, err := Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(c.Dir(), 0o500)
	defer os.Chmod(c.Dir(), 0o700)
	put(c, key("a"), []byte("data"))
	put(c, key("b"), []byte("data"))
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "cannot write") {
		t.Errorf("warnings %q, want one saying the cache cannot be written", w)
	}
}

func TestHints(t *testing.T) {
	c, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	layout, want := key("layout"), Hint{Key: key("segment"), Files: key("files")}
	if _, ok := c.Hint(layout); ok {
		t.Fatal("a hint in an empty cache")
	}
	c.SetHint(layout, want)
	if got, ok := c.Hint(layout); !ok || got != want {
		t.Errorf("Hint = %v, %v; want %v", got, ok, want)
	}
	p := c.path(hintPrefix, layout)
	b, _ := os.ReadFile(p)
	for _, damage := range []func([]byte) []byte{
		func(b []byte) []byte { return b[:10] },
		func(b []byte) []byte { b[50] ^= 1; return b },
		func(b []byte) []byte { return append(b, 0) },
	} {
		os.WriteFile(p, damage(bytes.Clone(b)), 0o600)
		if _, ok := c.Hint(layout); ok {
			t.Error("a damaged hint is used")
		}
	}
	c.SetHint(key("other"), want)
	os.Rename(c.path(hintPrefix, key("other")), p)
	if _, ok := c.Hint(layout); ok {
		t.Error("the hint of another layout is used")
	}
}

// TestTrim: entries are evicted least recently used first, down to the
// size; a cache that only read is not trimmed.
func TestTrim(t *testing.T) {
	c, err := Open(t.TempDir(), 3*4096)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{1}, 3000) // one 4 KiB block each
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		k := key(fmt.Sprint(i))
		put(c, k, data)
		tm := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(c.path(segmentPrefix, k), tm, tm)
	}
	get(t, c, key("0")) // used now: kept
	if err := c.Trim(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false, true, true} {
		if got := c.Has(key(fmt.Sprint(i))); got != want {
			t.Errorf("entry %d kept: %v, want %v", i, got, want)
		}
	}
	os.WriteFile(filepath.Join(c.Dir(), "seg-extra"), bytes.Repeat([]byte{1}, 100_000), 0o600)
	if err := c.Trim(); err != nil || !c.Has(key("4")) {
		t.Errorf("a cache that only read was trimmed (%v)", err)
	}
}

// TestConcurrent: builds sharing a cache read whole entries only.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("segment "), 50_000)
	k := key("shared")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Open(dir, 0)
			if err != nil {
				t.Error(err)
				return
			}
			for range 20 {
				if got, ok := get(t, c, k); ok && !bytes.Equal(got, data) {
					t.Error("a partial or wrong entry was read")
				}
				put(c, k, data)
			}
			if w := c.Warnings(); len(w) != 0 {
				t.Errorf("warnings: %q", w)
			}
		}()
	}
	wg.Wait()
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"4096", 4096, true}, {"512K", 512 << 10, true}, {"1G", 1 << 30, true},
		{"2GiB", 2 << 30, true}, {"1T", 1 << 40, true}, {"", 0, false}, {"-1", 0, false},
		{"1.5G", 0, false}, {"1X", 0, false}, {"G", 0, false}, {"99999999999T", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestNoDirectory: a cache whose directory cannot be made holds nothing,
// keeps nothing, and says so once.
func TestNoDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	c, err := Open(filepath.Join(file, "cache"), 0)
	if err != nil {
		t.Fatal(err)
	}
	put(c, key("a"), []byte("data"))
	if _, ok := get(t, c, key("a")); ok {
		t.Error("an entry was kept")
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "not a directory") {
		t.Errorf("warnings %q", w)
	}
}
