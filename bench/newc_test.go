package bench

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// discard counts bytes; it has no ReadFrom, like a compressor's input.
type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// files is a set of entries shaped like an initrd: many small files and a
// few large ones.
func files() (names []string, sizes []int, data []byte) {
	for i := range 2000 {
		size := 200 + (i*7919)%(16<<10)
		if i%200 == 0 {
			size = 2 << 20
		}
		names = append(names, fmt.Sprintf("usr/lib/file%05d", i))
		sizes = append(sizes, size)
	}
	data = bytes.Repeat([]byte("initrd bench data 0123456789abcdef\n"), 3<<20/35)
	return names, sizes, data
}

func writeArchive(b *testing.B, w io.Writer, names []string, sizes []int, data []byte) int64 {
	cw := cpiogen.NewWriter(w)
	for i, name := range names {
		h := &cpiogen.Header{Name: name, Mode: cpiogen.TypeReg | 0o644, Size: int64(sizes[i])}
		if err := cw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		// Through ReadFrom, as the archive writer copies files.
		if _, err := io.Copy(cw, io.LimitReader(bytes.NewReader(data), int64(sizes[i]))); err != nil {
			b.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		b.Fatal(err)
	}
	return cw.Offset()
}

// BenchmarkNewcWriter measures the newc writer alone (MB/s of archive)
// and feeding the segmented writer with no compression work (the cost of
// cutting and ordering segments).
func BenchmarkNewcWriter(b *testing.B) {
	names, sizes, data := files()
	b.Run("discard", func(b *testing.B) {
		var out discard
		n := writeArchive(b, &out, names, sizes, data)
		b.SetBytes(n)
		for b.Loop() {
			writeArchive(b, &out, names, sizes, data)
		}
		b.ReportMetric(float64(len(names))*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	for _, name := range []string{"zstd", "gzip"} {
		c, err := compressors.Lookup(name, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"-1-segmented", func(b *testing.B) {
			var out discard
			for b.Loop() {
				w, err := compressors.NewSegmentedWriter(&out, c, compressors.SegmentOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(writeArchive(b, w, names, sizes, data))
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
