package inspect

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// fuzzSeeds are images of every kind the readers take: each format,
// padding, several segments, hard links, duplicates, unsorted paths.
func fuzzSeeds(t testing.TB) [][]byte {
	plain := archive(t, true, file{name: ".", typ: cpiogen.TypeDir, mode: 0o755}, file{name: "bin", link: "usr/bin"},
		file{name: "dev/null", typ: cpiogen.TypeChar}, file{name: "usr/bin/sh", data: "#!"})
	links := archive(t, true, file{name: "h1", linkKey: "g", nlink: 2}, file{name: "h2", data: "shared", linkKey: "g", nlink: 2},
		file{name: "one", linkKey: "k", nlink: 2, data: "alone"})
	unsorted := archive(t, true, file{name: "z", data: "z"}, file{name: "a\x1b[31m", link: "\n"}, file{name: "z", data: "again"})
	seeds := [][]byte{plain, links, unsorted, cat(plain, zeros(7), links), {}, zeros(4)}
	for _, format := range []string{"gzip", "zstd", "xz", "xz-x86", "lzma", "bzip2", "lz4"} {
		seeds = append(seeds, cat(plain, compress(t, format, links)))
	}
	return seeds
}

// FuzzReader reads arbitrary bytes as an image. Reading must end
// without a panic; reading the whole image (Read) and entry by entry
// through a one-byte-at-a-time reader that is no io.ReaderAt must agree;
// an image read without error must account for every byte and every
// record; and the listings must hold no byte a terminal interprets but
// the newline.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Read(bytes.NewReader(data))
		entries, segs, err2 := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(data))))
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("Read: %v\nReader: %v", err, err2)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(img.Entries, entries) || !reflect.DeepEqual(img.Segments, segs) {
			t.Fatalf("Read and Reader differ:\n%+v\n%+v", img, entries)
		}
		checkImage(t, img, len(data))
		for _, write := range []func(io.Writer, *Reader) error{WriteList, WriteLongList} {
			var out bytes.Buffer
			if err := write(&out, NewReader(bytes.NewReader(data))); err != nil {
				t.Fatal(err)
			}
			checkTerminalSafe(t, out.String())
		}
	})
}

func readAll(r *Reader) ([]Entry, []Segment, error) {
	entries := []Entry{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return entries, append([]Segment{}, r.Segments()...), nil
		}
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, *e)
	}
}

// checkImage checks what holds for any image read without error.
func checkImage(t *testing.T, img *Image, size int) {
	t.Helper()
	if img.Size != int64(size) {
		t.Fatalf("size %d, input %d bytes", img.Size, size)
	}
	n := 0
	for i, s := range img.Segments {
		if s.Index != i || s.Size <= 0 || i > 0 && s.Offset < img.Segments[i-1].Offset+img.Segments[i-1].Size {
			t.Fatalf("segment %d: %+v", i, s)
		}
		n += s.Entries
	}
	if n != len(img.Entries) {
		t.Fatalf("segments count %d entries, %d read", n, len(img.Entries))
	}
	for _, e := range img.Entries {
		if !strings.HasPrefix(e.Path, "/") || cleanName(e.Path) != e.Path || e.Segment >= len(img.Segments) ||
			e.Size < 0 || e.Type == TypeFile && e.HardLink == "" && e.DataSize != e.Size {
			t.Fatalf("entry %+v", e)
		}
	}
}

// checkTerminalSafe fails if out holds a control character other than
// the newline, or a character that does not print.
func checkTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for i, r := range out {
		if r == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD") || r != '\n' && !unicode.IsPrint(r) {
			t.Fatalf("output byte %d: %q in\n%q", i, r, out)
		}
	}
}

// FuzzCompare compares two arbitrary images both ways the diff does:
// CompareStreams, reading them as streams (and again when unsorted),
// must give what Compare gives from the images read whole, and fail
// when reading fails.
func FuzzCompare(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i := range seeds {
		f.Add(seeds[i], seeds[(i+1)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		oldImg, errA := Read(bytes.NewReader(a))
		newImg, errB := Read(bytes.NewReader(b))
		for _, by := range []struct {
			name  string
			group Grouping
		}{{"path", nil}, {"dir", ByDir}} {
			got, err := CompareStreams(opener(a), opener(b), "a", "b", by.name, by.group)
			if errA != nil || errB != nil {
				if err == nil {
					t.Fatalf("images fail to read (%v, %v), CompareStreams did not", errA, errB)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := Compare(oldImg, newImg, "a", "b", by.name, by.group); !reflect.DeepEqual(got, want) {
				t.Fatalf("by %s: CompareStreams:\n%+v\nCompare:\n%+v", by.name, got, want)
			}
			var out bytes.Buffer
			if err := got.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			checkTerminalSafe(t, out.String())
		}
	})
}

// opener opens b, as often as asked.
func opener(b []byte) Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
