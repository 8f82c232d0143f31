package compressors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestWriteSegments: segments filled by concurrent workers come out in
// order, each compressed on its own, the same for any number of jobs and
// any output budget, including one so small that every worker stalls.
func TestWriteSegments(t *testing.T) {
	data := mixedData(3<<20, 7)
	var segs [][]byte
	for off, i := 0, 0; off < len(data); i++ {
		n := min(len(data)-off, (i%5+1)*96<<10) // uneven segments, some compressing slower
		segs = append(segs, data[off:off+n])
		off += n
	}
	for _, name := range []string{"gzip", "zstd", "xz-cli", "none", "lz4"} {
		c := lookup(t, name, 0)
		var want []byte
		if _, ok, _ := oneStream(io.Discard, c, 1); ok {
			want = compress(t, c, data)
		} else {
			for _, s := range segs {
				want = append(want, compress(t, c, s)...)
			}
		}
		for _, opts := range []SegmentOptions{{Jobs: 1}, {Jobs: 3}, {Jobs: 4, Size: 1}} {
			var out bytes.Buffer
			err := WriteSegments(&out, c, opts, len(segs), func(i int, zw io.Writer) error {
				_, err := zw.Write(segs[i])
				return err
			})
			if err != nil {
				t.Fatalf("%s %+v: %v", name, opts, err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s %+v: %d bytes, want the %d of each segment compressed on its own", name, opts, out.Len(), len(want))
			}
		}
	}
}

// TestWriteSegmentsErrors: the earliest failing segment's error is the
// one returned, whatever finished first, and bad arguments are refused.
func TestWriteSegmentsErrors(t *testing.T) {
	for _, name := range []string{"gzip", "none"} {
		c := lookup(t, name, 0)
		err := WriteSegments(io.Discard, c, SegmentOptions{Jobs: 3}, 6, func(i int, zw io.Writer) error {
			if i == 2 || i == 4 {
				return fmt.Errorf("segment %d failed", i)
			}
			_, err := zw.Write(bytes.Repeat([]byte{byte(i)}, 1000))
			return err
		})
		if err == nil || err.Error() != "segment 2 failed" {
			t.Errorf("%s: error %v, want segment 2's", name, err)
		}
	}
	fill := func(int, io.Writer) error { return errors.New("called") }
	gz := lookup(t, "gzip", 0)
	for _, tt := range []struct {
		w    io.Writer
		opts SegmentOptions
		n    int
	}{{io.Discard, SegmentOptions{}, 0}, {nil, SegmentOptions{}, 1}, {io.Discard, SegmentOptions{Jobs: -1}, 1}} {
		if err := WriteSegments(tt.w, gz, tt.opts, tt.n, fill); err == nil || err.Error() == "called" {
			t.Errorf("WriteSegments(%v, %+v, %d) = %v, want an argument error", tt.w, tt.opts, tt.n, err)
		}
	}
}

// TestJobsCapped: an absurd number of jobs is capped at MaxJobs, not
// allocated, by both segmenting writers.
func TestJobsCapped(t *testing.T) {
	if m := MaxJobs(); m < 1 || m > 256 {
		t.Fatalf("MaxJobs() = %d, want 1-256", m)
	}
	opts := SegmentOptions{Jobs: 1<<31 - 1}
	for _, name := range []string{"gzip", "lz4", "none"} {
		c := lookup(t, name, 0)
		var a, b bytes.Buffer
		err := WriteSegments(&a, c, opts, 2, func(i int, zw io.Writer) error {
			_, err := zw.Write([]byte("segment"))
			return err
		})
		if err != nil {
			t.Errorf("WriteSegments %s: %v", name, err)
		}
		zw, err := NewSegmentedWriter(&b, c, opts)
		if err == nil {
			_, err = zw.Write([]byte("segmentsegment"))
		}
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			t.Errorf("NewSegmentedWriter %s: %v", name, err)
		}
	}
}

// TestWriteParts: segments written as they are come out in order among
// the compressed ones, after the zeros that align them; the compressed
// bytes go to a tee as they are made; a format of one stream refuses
// both.
func TestWriteParts(t *testing.T) {
	c := lookup(t, "gzip", 0)
	raw := []byte("07070100000000 an uncompressed segment")
	seg := mixedData(100<<10, 3)
	var tee bytes.Buffer
	var out bytes.Buffer
	err := WriteParts(&out, c, SegmentOptions{Jobs: 3}, 3, func(i int, p *Part) error {
		if i == 1 {
			w, err := p.Raw(4)
			if err == nil {
				_, err = w.Write(raw)
			}
			return err
		}
		var t io.Writer
		if i == 0 {
			t = &tee
		}
		return compressPart(p, NoCode, seg, t)
	})
	if err != nil {
		t.Fatal(err)
	}
	z := compress(t, c, seg)
	pad := bytes.Repeat([]byte{0}, (4-len(z)%4)%4)
	want := append(append(append(append([]byte(nil), z...), pad...), raw...), z...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%d bytes, want the compressed segment, %d zeros, the raw one and the compressed one (%d)", out.Len(), len(pad), len(want))
	}
	if !bytes.Equal(tee.Bytes(), z) {
		t.Errorf("the tee got %d bytes, want the %d compressed", tee.Len(), len(z))
	}
	one := lookup(t, "lz4", 0)
	err = WriteParts(io.Discard, one, SegmentOptions{}, 1, func(i int, p *Part) error {
		_, err := p.Raw(4)
		return err
	})
	if !errors.Is(err, ErrOneStream) {
		t.Errorf("Raw of lz4: %v, want ErrOneStream", err)
	}
}
