package compressors

import (
	"bytes"
	"io"
	"testing"
)

// FuzzDetect: detection and decoding of hostile input never panic and
// never read without bound: a decoder gets at most 1 MiB of output out.
func FuzzDetect(f *testing.F) {
	for _, name := range Names() {
		c, err := Lookup(name, 0)
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		w, _ := c.NewWriter(&buf)
		w.Write([]byte("070701 some cpio-looking data"))
		w.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0x42, 0x5a, 0x68, 0x39})
	f.Add([]byte{0x5d, 0, 0, 0x80, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		format := Detect(data)
		if format == "" {
			return
		}
		r, err := NewReader(format, bytes.NewReader(data))
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(r, 1<<20))
		r.Close()
	})
}
