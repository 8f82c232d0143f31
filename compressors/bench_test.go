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
