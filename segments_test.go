package mkinitrd

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

func TestCuts(t *testing.T) {
	c := newCuts(1000) // min 500, scale 500, max 4000
	tests := []struct {
		name        string
		path        string
		size, n     int64
		want, maybe bool
	}{
		{"below the minimum", "/a", 10_000, 499, false, false},
		{"at the maximum", "/a", 1, 4000, true, false},
		{"an entry as large as scale", "/a", 500, 500, true, false},
		{"an empty entry", "/a", 0, 3999, false, false},
		{"a small entry", "/a", 100, 700, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.after(tt.path, tt.size, tt.n); got != tt.want && !tt.maybe {
				t.Errorf("after(%q, %d, %d) = %v, want %v", tt.path, tt.size, tt.n, got, tt.want)
			}
		})
	}
	// Entries of 10 bytes: a cut after each with a chance of 10/500, so
	// segments average 500 + 500 bytes.
	var segs, total, n int64
	for i := range 200_000 {
		n += 10
		total += 10
		if c.after(fmt.Sprintf("/dir/file%d", i), 10, n) {
			segs, n = segs+1, 0
		}
	}
	if avg := total / segs; avg < 900 || avg > 1100 {
		t.Errorf("segments average %d bytes, want about 1000", avg)
	}
}

// TestInodes: numbers are never 0, unique, the same for a path whatever
// else the archive holds, and a collision moves only the later path.
func TestInodes(t *testing.T) {
	// Two paths whose numbers collide: among 200,000 32-bit hashes, some
	// pair nearly surely does.
	byIno := map[uint32]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		p := fmt.Sprintf("/collide/%d", i)
		n := inodeOf(p, 0)
		if q, ok := byIno[n]; ok {
			a, b = q, p
		}
		byIno[n] = p
		if i > 1_000_000 {
			t.Fatal("no collision among a million paths")
		}
	}
	if a > b {
		a, b = b, a
	}
	entries := []resolve.Entry{
		{Path: "/", Kind: resolve.Dir}, {Path: a, Kind: resolve.File}, {Path: b, Kind: resolve.Dir},
		{Path: "/l1", Kind: resolve.File, HardLink: "1:2"}, {Path: "/l2", Kind: resolve.File, HardLink: "1:2"},
	}
	links := hardLinks(each(entries))
	ids := numberInodes(each(entries), links)
	seen := map[uint32]string{}
	for i := range entries {
		e := &entries[i]
		n := ids.of(e, links[e.HardLink])
		if n == 0 {
			t.Errorf("%s: inode 0", e.Path)
		}
		if q, ok := seen[n]; ok && e.HardLink == "" {
			t.Errorf("%s and %s share inode %d", q, e.Path, n)
		}
		seen[n] = e.Path
	}
	if ids.of(&entries[1], nil) != inodeOf(a, 0) || ids.of(&entries[2], nil) == inodeOf(b, 0) {
		t.Errorf("the collision of %s and %s moved the wrong one", a, b)
	}
	if ids.of(&entries[3], links["1:2"]) != inodeOf("/l2", 0) {
		t.Error("a hard-link group is not numbered from the name that carries its data")
	}
	alone := numberInodes(each(entries[:2]), nil)
	if alone.of(&entries[1], nil) != ids.of(&entries[1], nil) {
		t.Error("another entry changed a path's number")
	}
}

// TestStableSegments: adding, removing or changing one file changes the
// segment that holds it, and at most the next; every other segment is
// the same bytes.
func TestStableSegments(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		data := make([]byte, 500+rng.IntN(8000))
		for j := range data {
			data[j] = byte(rng.IntN(16))
		}
		p := filepath.Join(dir, fmt.Sprintf("data/d%d/f%03d", i%7, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		must(t, os.WriteFile(p, data, 0o644))
	}
	before := segmentBytes(t, dir, 64<<10)
	if len(before) < 20 {
		t.Fatalf("%d segments, want at least 20", len(before))
	}
	tests := []struct {
		name   string
		change func()
	}{
		{"add", func() { must(t, os.WriteFile(filepath.Join(dir, "data/d3/f200a"), make([]byte, 3000), 0o644)) }},
		{"remove", func() { must(t, os.Remove(filepath.Join(dir, "data/d5/f103"))) }},
		{"change", func() { must(t, os.WriteFile(filepath.Join(dir, "data/d1/f071"), []byte("new content"), 0o644)) }},
		{"grow", func() { must(t, os.WriteFile(filepath.Join(dir, "data/d2/f002"), make([]byte, 40_000), 0o644)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			after := segmentBytes(t, dir, 64<<10)
			if n := changed(before, after); n > 2 {
				t.Errorf("%d of %d segments changed, want at most 2", n, len(after))
			}
			before = after
		})
	}
}

// segmentBytes returns the uncompressed bytes of each segment of records
// of the archive of dir, cut into segments averaging size bytes.
func segmentBytes(t *testing.T, dir string, size int64) [][]byte {
	t.Helper()
	fsys, c := resolveIn(t, dir, `{"contents": [{"source": "/data"}]}`)
	a := &archiver{src: sources{fsys: fsys}}
	a.number(each(c.Entries))
	segs, err := a.plan(each(c.Entries), planOptions{size: size})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, s := range segs {
		if s.kind != records {
			continue
		}
		var b bytes.Buffer
		must(t, a.writeSegment(context.Background(), &b, s))
		out = append(out, b.Bytes())
	}
	return out
}

// changed counts the segments of after that are not among before's.
func changed(before, after [][]byte) int {
	old := map[string]bool{}
	for _, b := range before {
		old[string(b)] = true
	}
	n := 0
	for _, b := range after {
		if !old[string(b)] {
			n++
		}
	}
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestStored: files whose name and content say they are compressed, and
// large enough, go in the stored segment, in path order after every
// segment of records, which hold their directories; the others stay.
func TestStored(t *testing.T) {
	dir := t.TempDir()
	xz := func(n int) []byte { return append([]byte("\xfd7zXZ\x00"), make([]byte, n)...) }
	files := map[string][]byte{
		"data/m/a.ko.xz":      xz(20 << 10),
		"data/m/b.ko.xz":      xz(30 << 10),
		"data/m/small.ko.xz":  xz(100),
		"data/m/fake.ko.xz":   make([]byte, 20<<10),
		"data/m/plain.ko":     xz(20 << 10),
		"data/fw/x.bin.zst":   append([]byte("\x28\xb5\x2f\xfd"), make([]byte, 40<<10)...),
		"data/z/after.txt":    []byte("after"),
		"data/m/linked.ko.xz": xz(20 << 10),
	}
	for p, b := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		must(t, os.WriteFile(filepath.Join(dir, p), b, 0o644))
	}
	must(t, os.Link(filepath.Join(dir, "data/m/linked.ko.xz"), filepath.Join(dir, "data/z/link.ko.xz")))
	fsys, c := resolveIn(t, dir, `{"contents": [{"source": "/data"}]}`)
	a := &archiver{src: sources{fsys: fsys}}
	a.number(each(c.Entries))
	segs, err := a.plan(each(c.Entries), planOptions{size: 1 << 20, store: true})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var storedPaths []string
	for _, s := range segs {
		kinds = append(kinds, s.kind.String())
		if s.kind == stored {
			for e := range s.entries.All() {
				storedPaths = append(storedPaths, e.Path)
			}
		}
	}
	if got := fmt.Sprint(kinds); got != "[records stored trailer]" {
		t.Errorf("segments %s, want records, stored, trailer", got)
	}
	if got := fmt.Sprint(storedPaths); got != "[/data/fw/x.bin.zst /data/m/a.ko.xz /data/m/b.ko.xz]" {
		t.Errorf("stored %s", got)
	}
	plain, err := a.plan(each(c.Entries), planOptions{size: 1 << 20})
	if err != nil || len(plain) != 2 || plain[0].kind != records {
		t.Errorf("without storing: %d segments, %v", len(plain), err)
	}
}

// TestSegmentCode: with planOptions.code, a segment of records is
// compressed as x86 code when more than half of its files' bytes are x86
// programs and libraries, and as data otherwise; without it, never.
func TestSegmentCode(t *testing.T) {
	dir := t.TempDir()
	for i := range 24 {
		p := filepath.Join(dir, fmt.Sprintf("data/%c/f%02d", "ab"[i/12], i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		must(t, os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 50<<10), 0o644))
	}
	fsys, c := resolveIn(t, dir, `{"contents": [{"source": "/data"}]}`)
	for i := range c.Entries {
		if strings.HasPrefix(c.Entries[i].Path, "/data/a/") {
			c.Entries[i].Machine = elf.EM_X86_64
		}
	}
	a := &archiver{src: sources{fsys: fsys}}
	a.number(each(c.Entries))
	for _, code := range []bool{true, false} {
		segs, err := a.plan(each(c.Entries), planOptions{size: 256 << 10, code: code})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[compressors.Code]int{}
		for i, s := range segs {
			files, x86 := x86Bytes(s)
			want := compressors.NoCode
			if code && s.kind == records && 2*x86 > files {
				want = compressors.X86Code
			}
			if s.code != want {
				t.Errorf("code %v: segment %d (%d of %d bytes x86): %v, want %v", code, i, x86, files, s.code, want)
			}
			seen[s.code]++
		}
		if code && (seen[compressors.X86Code] == 0 || seen[compressors.NoCode] < 2) {
			t.Errorf("segments by code: %v, want some of code and some of data", seen)
		}
	}
}

// x86Bytes returns the bytes of s's files and, of those, of x86 ELF files.
func x86Bytes(s segment) (files, x86 int64) {
	if s.kind == trailer {
		return 0, 0
	}
	for e := range s.entries.All() {
		if e.Kind == resolve.File {
			files += e.Size
			if e.Machine == elf.EM_X86_64 {
				x86 += e.Size
			}
		}
	}
	return files, x86
}
