package mkinitrd

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// resolveIn resolves a manifest inside dir.
func resolveIn(t *testing.T, dir, manifest string) (*rootfs.FS, *resolve.Closure) {
	t.Helper()
	m, err := resolve.ParseManifest(strings.NewReader(manifest), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := rootfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	c, err := resolve.Resolve(m, fsys, resolve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fsys, c
}

// TestSwappedSourceIsNotFollowed: a source replaced by a symlink to a
// host file after resolution is refused, not followed out of the root.
func TestSwappedSourceIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "etc/conf")
	os.MkdirAll(filepath.Dir(src), 0o755)
	if err := os.WriteFile(src, []byte("root's own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, c := resolveIn(t, dir, `{"contents": [{"source": "/etc/conf"}]}`)
	os.Remove(src)
	if err := os.Symlink("/etc/passwd", src); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err := WriteArchive(context.Background(), &out, c, fsys, 0)
	if err == nil || !strings.Contains(err.Error(), "/etc/conf") {
		t.Fatalf("WriteArchive after the swap: err = %v", err)
	}
	if bytes.Contains(out.Bytes(), []byte("root:x:0:0")) {
		t.Fatal("the host's /etc/passwd was read")
	}
}

// TestSizeChangeIsAnError: a source that changed size since it was
// resolved never yields an archive whose header disagrees with its data.
func TestSizeChangeIsAnError(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data")
	if err := os.WriteFile(src, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, c := resolveIn(t, dir, `{"contents": [{"source": "/data"}]}`)
	if err := os.WriteFile(src, []byte("1234567890"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := WriteArchive(context.Background(), io.Discard, c, fsys, 0)
	if err == nil || !strings.Contains(err.Error(), "size changed from 5 to 10 bytes") {
		t.Fatalf("err = %v", err)
	}
}

// TestHardLinksShareAnInode: names of one source inode share an inode in
// the archive; the data sits on the last name, as gen_init_cpio does.
func TestHardLinksShareAnInode(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if err := os.WriteFile(a, []byte("shared"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(a, filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	fsys, c := resolveIn(t, dir, `{"contents": [{"source": "/a"}, {"source": "/b"}]}`)
	var out bytes.Buffer
	if _, err := WriteArchive(context.Background(), &out, c, fsys, 0); err != nil {
		t.Fatal(err)
	}
	r := cpiogen.NewReader(&out)
	var hdrs []cpiogen.Header
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, *h)
	}
	if len(hdrs) != 2 || hdrs[0].Ino != hdrs[1].Ino || hdrs[0].NLink != 2 || hdrs[0].Size != 0 || hdrs[1].Size != 6 {
		t.Errorf("headers = %+v", hdrs)
	}
}

// decode returns img decompressed: every stream of comp's format.
func decode(t *testing.T, comp compressors.Compressor, img []byte) []byte {
	t.Helper()
	format := compressors.Detect(img)
	if comp.Name() == "none" {
		return img
	}
	r, err := compressors.NewReader(format, bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", comp.Name(), err)
	}
	return d
}

// TestDecompressedEntry: an entry marked Decompress is stored decoded,
// and a decoded size that no longer matches is an error.
func TestDecompressedEntry(t *testing.T) {
	dir := t.TempDir()
	plain := bytes.Repeat([]byte("module code "), 5000)
	var xzData bytes.Buffer
	xzc, err := compressors.Lookup("xz", 0)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := xzc.NewWriter(&xzData)
	w.Write(plain)
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, "m.ko.xz"), xzData.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, err := rootfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	for _, tt := range []struct {
		size    int64
		wantErr bool
	}{{int64(len(plain)), false}, {int64(len(plain)) - 1, true}} {
		c := &resolve.Closure{Entries: []resolve.Entry{{Path: "/m.ko", Kind: resolve.File, Source: "/m.ko.xz",
			Size: tt.size, Mode: 0o644, Decompress: true}}}
		var out bytes.Buffer
		_, err := WriteArchive(context.Background(), &out, c, fsys, 0)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "decoded size changed") {
				t.Errorf("size %d: err = %v", tt.size, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		r := cpiogen.NewReader(&out)
		if h, err := r.Next(); err != nil || h.Name != "m.ko" {
			t.Fatalf("first entry %v, %v", h, err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, plain) {
			t.Errorf("stored %d bytes, not the decoded module", len(got))
		}
	}
}

// TestBuildMatchesWriteArchive: Build streams the closure from its packed
// form; the image and the Result's entries are those of Resolve followed
// by WriteArchive, for every kind of entry and a hard-link pair.
func TestBuildMatchesWriteArchive(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "usr/bin/tool"), []byte("#!/bin/true\n"), 0o755)
	os.Link(filepath.Join(dir, "usr/bin/tool"), filepath.Join(dir, "usr/bin/tool2"))
	os.Symlink("usr/bin", filepath.Join(dir, "bin"))
	manifest := `{"contents": [{"source": "/bin/tool"}, {"source": "/usr/bin/tool2"},
		{"target": "/etc/hostname", "text": "initrd\n"}, {"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
		{"target": "/run", "type": "dir", "mode": "1777"}, {"target": "/run/initctl", "type": "fifo"}]}`
	fsys, c := resolveIn(t, dir, manifest)
	var want bytes.Buffer
	if _, err := WriteArchive(context.Background(), &want, c, fsys, 7); err != nil {
		t.Fatal(err)
	}
	m, err := resolve.ParseManifest(strings.NewReader(manifest), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	// Build plans its segments and writes them apart; the streams must
	// decode to WriteArchive's archive, and a format that is one stream
	// must be that archive compressed. 200-byte segments cut after nearly
	// every entry, and the hard-linked pair lands in two segments.
	tests := []struct {
		comp      string
		size      int
		jobs      int
		segmented bool
	}{
		{"none", 0, 0, false},
		{"gzip", 200, 1, true},
		{"gzip", 200, 3, true},
		{"zstd", 1 << 20, 2, true},
		{"lz4", 200, 2, false},
	}
	for _, tt := range tests {
		comp, err := compressors.Lookup(tt.comp, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		res, err := Build(context.Background(), &got, m, Options{Root: dir, Compressor: comp, MTime: 7, SegmentSize: tt.size, Jobs: tt.jobs})
		if err != nil {
			t.Fatal(err)
		}
		if d := decode(t, comp, got.Bytes()); !bytes.Equal(d, want.Bytes()) {
			t.Errorf("%s, %d-byte segments, %d jobs: Build's image decodes to %d bytes that differ from the %d of WriteArchive", tt.comp, tt.size, tt.jobs, len(d), want.Len())
		}
		if !tt.segmented {
			var wantZ bytes.Buffer
			zw, err := compressors.NewSegmentedWriter(&wantZ, comp, compressors.SegmentOptions{Size: tt.size, Jobs: tt.jobs})
			if err != nil {
				t.Fatal(err)
			}
			zw.Write(want.Bytes())
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), wantZ.Bytes()) {
				t.Errorf("%s: Build wrote %d bytes that differ from the %d of WriteArchive compressed", tt.comp, got.Len(), wantZ.Len())
			}
		}
		if res.Uncompressed != int64(want.Len()) || res.Written != int64(got.Len()) {
			t.Errorf("%s: Result says %d bytes uncompressed and %d written, want %d and %d", tt.comp, res.Uncompressed, res.Written, want.Len(), got.Len())
		}
		if tt.segmented && tt.size < 1000 && bytes.Count(got.Bytes(), comp.Magic()) < 5 {
			t.Errorf("%s: %d-byte segments made fewer than 5 streams", tt.comp, tt.size)
		}
		if !slices.EqualFunc(res.Closure.Entries, c.Entries, func(a, b resolve.Entry) bool { return reflect.DeepEqual(a, b) }) {
			t.Errorf("%s: Result.Closure.Entries = %v, want %v", tt.comp, res.Closure.Entries, c.Entries)
		}
	}
	if !bytes.Contains(want.Bytes(), []byte("initrd\n")) || len(c.Entries) < 8 {
		t.Errorf("fixture too small: %d entries", len(c.Entries))
	}
}
