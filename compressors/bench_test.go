package compressors

import (
	"bytes"
	"io"
	"testing"
)

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkCompress measures each built-in at its default level on 8 MiB of
// mixed data, reporting input MB/s and the compression ratio.
func BenchmarkCompress(b *testing.B) {
	data := mixedData(8<<20, 10)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			c := lookup(b, name, 0)
			b.SetBytes(int64(len(data)))
			var out countWriter
			for b.Loop() {
				out.n = 0
				w, err := c.NewWriter(&out)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.n)/float64(len(data)), "ratio")
		})
	}
}

// BenchmarkDecompress measures NewReader on the same data.
func BenchmarkDecompress(b *testing.B) {
	data := mixedData(8<<20, 10)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			stream := compress(b, lookup(b, name, 0), data)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := NewReader(name, bytes.NewReader(stream))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

// BenchmarkSegmented compares each segmentable compressor writing one
// stream (serial) with NewSegmentedWriter at the default segment size and
// one job per core, on 24 MiB cut into entries of up to 64 KiB. The
// "ratio" metric shows what segmenting costs in size.
func BenchmarkSegmented(b *testing.B) {
	data := mixedData(24<<20, 13)
	var sizes []int
	for off, i := 0, 0; off < len(data); i++ {
		k := min(len(data)-off, 1+(i*7919)%(64<<10))
		sizes = append(sizes, k)
		off += k
	}
	for _, name := range []string{"gzip", "zstd", "xz", "lz4", "gzip-cli", "zstd-cli", "xz-cli"} {
		c := lookup(b, name, 0)
		for _, mode := range []string{"serial", "segmented"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				var out countWriter
				for b.Loop() {
					out.n = 0
					var w io.WriteCloser
					var err error
					if mode == "serial" {
						w, err = c.NewWriter(&out)
					} else {
						w, err = NewSegmentedWriter(&out, c, SegmentOptions{})
					}
					if err != nil {
						b.Fatal(err)
					}
					marker, _ := w.(interface{ EntryBoundary() error })
					off := 0
					for _, k := range sizes {
						if _, err := w.Write(data[off : off+k]); err != nil {
							b.Fatal(err)
						}
						off += k
						if marker != nil {
							if err := marker.EntryBoundary(); err != nil {
								b.Fatal(err)
							}
						}
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(out.n)/float64(len(data)), "ratio")
			})
		}
	}
}
