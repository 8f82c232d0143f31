package compressors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// entrySizes cuts n bytes into entry sizes: mostly small, a few larger than
// segSize, and one several times segSize (a segment that must be streamed).
func entrySizes(n, segSize int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 7))
	var sizes []int
	huge := false
	for n > 0 {
		k := 1 + rng.IntN(segSize/4)
		switch {
		case !huge && len(sizes) > 10:
			k, huge = 5*segSize+123, true
		case rng.IntN(20) == 0:
			k = segSize + rng.IntN(segSize)
		}
		k = min(k, n)
		sizes = append(sizes, k)
		n -= k
	}
	return sizes
}

// feed writes data to w in entries of the given sizes, calling
// EntryBoundary after each; odd entries go through ReadFrom, even ones
// through Write in uneven pieces.
func feed(t *testing.T, w io.Writer, data []byte, sizes []int) {
	t.Helper()
	marker, ok := w.(interface{ EntryBoundary() error })
	if !ok { // a single-stream writer
		marker = segRecorder2{}
	}
	off := 0
	for i, k := range sizes {
		e := data[off : off+k]
		off += k
		if i%2 == 1 {
			// A LimitReader has no WriteTo, so io.Copy uses w's ReadFrom.
			if _, err := io.Copy(w, io.LimitReader(bytes.NewReader(e), int64(k))); err != nil {
				t.Fatalf("entry %d: io.Copy: %v", i, err)
			}
		} else {
			for len(e) > 0 {
				p := e[:min(len(e), 1+len(e)/3+777)]
				if _, err := w.Write(p); err != nil {
					t.Fatalf("entry %d: Write: %v", i, err)
				}
				e = e[len(p):]
			}
		}
		if err := marker.EntryBoundary(); err != nil {
			t.Fatalf("entry %d: EntryBoundary: %v", i, err)
		}
	}
}

// cutSegments applies the documented rule: a segment ends at the first
// entry boundary at which it holds at least size bytes.
func cutSegments(data []byte, sizes []int, size int) [][]byte {
	var segs [][]byte
	start, off := 0, 0
	for _, k := range sizes {
		off += k
		if off-start >= size {
			segs = append(segs, data[start:off])
			start = off
		}
	}
	if start < len(data) || len(segs) == 0 {
		segs = append(segs, data[start:])
	}
	return segs
}

func segmented(t *testing.T, c Compressor, opts SegmentOptions, data []byte, sizes []int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewSegmentedWriter(&out, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, w, data, sizes)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

// TestSegmentedWriter: the output is the concatenation of each segment
// compressed on its own, cut by the documented rule, byte-identical for
// any number of jobs, and the reference tool decodes it whole.
func TestSegmentedWriter(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		decoder []string
	}{
		{"gzip", 2 << 20, []string{"gzip", "-dc"}},
		{"zstd", 2 << 20, []string{"zstd", "-q", "-dc"}},
		{"xz", 512 << 10, []string{"xz", "-dc"}},
		{"gzip-cli", 1 << 20, []string{"gzip", "-dc"}},
		{"zstd-cli", 1 << 20, []string{"zstd", "-q", "-dc"}},
		{"xz-cli", 512 << 10, []string{"xz", "-dc"}},
	}
	const segSize = 32 << 10
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := lookup(t, tt.name, 0)
			data := mixedData(tt.size, 21)
			sizes := entrySizes(len(data), segSize, 5)
			var want []byte
			segs := cutSegments(data, sizes, segSize)
			for _, s := range segs {
				want = append(want, compress(t, c, s)...)
			}
			for _, jobs := range []int{1, 2, 5} {
				got := segmented(t, c, SegmentOptions{Size: segSize, Jobs: jobs}, data, sizes)
				if !bytes.Equal(got, want) {
					t.Errorf("jobs %d: %d bytes, differ from the %d segments compressed one by one (%d bytes)",
						jobs, len(got), len(segs), len(want))
				}
			}
			checkEqual(t, strings.Join(tt.decoder, " "), mustTool(t, want, tt.decoder[0], tt.decoder[1:]...), data)
			got, err := decode(strings.TrimSuffix(tt.name, CLISuffix), want)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			checkEqual(t, "NewReader", got, data)
			if len(segs) < 10 {
				t.Errorf("only %d segments: the test does not exercise segmenting", len(segs))
			}
		})
	}
}

// TestSegmentedSingleStream: lz4, none and cmd: compressors are not cut;
// lz4 uses the jobs for its blocks and stays identical to lz4 -l.
func TestSegmentedSingleStream(t *testing.T) {
	data := mixedData(18<<20, 8) // three 8 MiB legacy blocks
	sizes := entrySizes(len(data), 1<<20, 3)
	cli := mustTool(t, data, "lz4", "-l", "-c")
	for _, jobs := range []int{1, 2, 3} {
		got := segmented(t, lookup(t, "lz4", 0), SegmentOptions{Size: 1 << 20, Jobs: jobs}, data, sizes)
		if !bytes.Equal(got, cli) {
			t.Errorf("lz4 with %d jobs: %d bytes, differs from lz4 -l (%d bytes)", jobs, len(got), len(cli))
		}
	}
	small := data[:3<<20]
	smallSizes := entrySizes(len(small), 64<<10, 4)
	if got := segmented(t, lookup(t, "none", 0), SegmentOptions{Size: 64 << 10}, small, smallSizes); !bytes.Equal(got, small) {
		t.Errorf("none: output differs from input")
	}
	cmd := lookup(t, "cmd:gzip -n", 0)
	got := segmented(t, cmd, SegmentOptions{Size: 64 << 10}, small, smallSizes)
	if want := compress(t, cmd, small); !bytes.Equal(got, want) {
		t.Errorf("cmd:gzip -n: %d bytes, want the single stream's %d", len(got), len(want))
	}
}

// segRecorder is a concatenable compressor whose "stream" is the segment's
// length and bytes, so a test can see where segments were cut.
type segRecorder struct{}

func (segRecorder) Name() string       { return "recorder" }
func (segRecorder) Ext() string        { return "" }
func (segRecorder) Magic() []byte      { return nil }
func (segRecorder) concatenable() bool { return true }
func (segRecorder) NewWriter(w io.Writer) (io.WriteCloser, error) {
	return &recWriter{w: w}, nil
}

type recWriter struct {
	w   io.Writer
	buf bytes.Buffer
}

func (r *recWriter) Write(p []byte) (int, error) { return r.buf.Write(p) }
func (r *recWriter) Close() error {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.buf.Len()))
	_, err := r.w.Write(append(n[:], r.buf.Bytes()...))
	return err
}

func splitRecorded(t *testing.T, out []byte) [][]byte {
	t.Helper()
	var segs [][]byte
	for len(out) > 0 {
		if len(out) < 8 {
			t.Fatalf("truncated segment header")
		}
		n := binary.BigEndian.Uint64(out)
		segs = append(segs, out[8:8+n])
		out = out[8+n:]
	}
	return segs
}

// TestSegmentsOnEntryBoundaries drives the writer with cpiogen.Writer, as
// a build does: every segment must start with a newc record and hold
// whole entries, which is what the kernel needs.
func TestSegmentsOnEntryBoundaries(t *testing.T) {
	const segSize = 64 << 10
	var out bytes.Buffer
	sw, err := NewSegmentedWriter(&out, segRecorder{}, SegmentOptions{Size: segSize, Jobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	cw := cpiogen.NewWriter(sw)
	data := mixedData(2<<20, 9)
	var names []string
	for i, k := range entrySizes(len(data), segSize, 2) {
		name := fmt.Sprintf("f%03d", i)
		names = append(names, name)
		if i%7 == 0 {
			if err := cw.WriteHeader(&cpiogen.Header{Name: name + ".d", Mode: cpiogen.TypeDir | 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.WriteHeader(&cpiogen.Header{Name: name, Mode: cpiogen.TypeReg | 0o644, Size: int64(k)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(cw, io.LimitReader(bytes.NewReader(data), int64(k))); err != nil {
			t.Fatal(err)
		}
		data = data[k:]
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	segs := splitRecorded(t, out.Bytes())
	var tb bytes.Buffer
	if err := cpiogen.NewWriter(&tb).Close(); err != nil {
		t.Fatal(err)
	}
	trailer := tb.Bytes()
	if len(segs) < 10 {
		t.Fatalf("%d segments from 2 MiB at %d bytes each", len(segs), segSize)
	}
	var whole []byte
	for i, s := range segs {
		if !bytes.HasPrefix(s, []byte("070701")) {
			t.Errorf("segment %d starts % x, not with a newc record", i, s[:min(8, len(s))])
		}
		if i < len(segs)-1 && len(s) < segSize {
			t.Errorf("segment %d: %d bytes, less than the %d-byte target", i, len(s), segSize)
		}
		// Each segment holds whole entries: with a trailer after it (the
		// last has its own), it reads as a complete archive.
		alone := s
		if i < len(segs)-1 {
			alone = append(bytes.Clone(s), trailer...)
		}
		r := cpiogen.NewReader(bytes.NewReader(alone))
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("segment %d: %v", i, err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Fatalf("segment %d: %v", i, err)
			}
		}
		whole = append(whole, s...)
	}
	r := cpiogen.NewReader(bytes.NewReader(whole))
	var got []string
	for {
		h, err := r.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		if !strings.HasSuffix(h.Name, ".d") {
			got = append(got, h.Name)
		}
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("entries read back: %d, want %d", len(got), len(names))
	}
}

// TestSegmentedMemoryBounded streams one 256 MiB entry (no boundary at
// all) and many segments' worth of small entries: the allocations stay a
// few segments' worth, whatever the input size. The bounds are what the
// documented budget allows at two jobs (half a segment of input per extra
// job, 2 chunks per job, a quarter segment of output for each of the 2
// segments that can wait for their turn), with room for the goroutines.
func TestSegmentedMemoryBounded(t *testing.T) {
	tests := []struct {
		segSize  int
		maxAlloc uint64
	}{
		{1 << 20, 3 << 20},
		{DefaultSegmentSize, 11 << 20},
	}
	for _, tt := range tests {
		var out countWriter
		w, err := NewSegmentedWriter(&out, segRecorder2{}, SegmentOptions{Size: tt.segSize, Jobs: 2})
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const total = 256 << 20
		if _, err := io.Copy(w, io.LimitReader(zeroReader{}, total)); err != nil {
			t.Fatal(err)
		}
		sw := w.(*segWriter)
		if err := sw.EntryBoundary(); err != nil {
			t.Fatal(err)
		}
		small := make([]byte, 4000)
		for range 20000 { // 80 MB in small entries
			if _, err := w.Write(small); err != nil {
				t.Fatal(err)
			}
			if err := sw.EntryBoundary(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if out.n != total+20000*4000 {
			t.Errorf("%d bytes out, want %d", out.n, total+20000*4000)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("segment size %d KiB: %d KiB allocated", tt.segSize>>10, alloc>>10)
		if alloc > tt.maxAlloc {
			t.Errorf("allocated %d MiB to pass %d MiB through %d KiB segments, want at most %d MiB",
				alloc>>20, (total+80e6)>>20, tt.segSize>>10, tt.maxAlloc>>20)
		}
	}
}

// segRecorder2 passes data straight through: a cheap concatenable format.
type segRecorder2 struct{ segRecorder }

func (segRecorder2) NewWriter(w io.Writer) (io.WriteCloser, error) { return nopCloser{w}, nil }

func (segRecorder2) EntryBoundary() error { return nil }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// failWriter fails after n bytes.
type failWriter struct{ n atomic.Int64 }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n.Add(-int64(len(p))) < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestSegmentedErrors: a failing destination or compressor is reported by
// Write or Close, without hanging, and bad options are refused.
func TestSegmentedErrors(t *testing.T) {
	data := mixedData(4<<20, 6)
	sizes := entrySizes(len(data), 64<<10, 1)
	for _, name := range []string{"gzip", "zstd-cli", "cmd:false"} {
		t.Run(name, func(t *testing.T) {
			fw := &failWriter{}
			fw.n.Store(100 << 10)
			w, err := NewSegmentedWriter(fw, lookup(t, name, 0), SegmentOptions{Size: 64 << 10, Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				var werr error
				off := 0
				for _, k := range sizes {
					if _, werr = w.Write(data[off : off+k]); werr != nil {
						break
					}
					if m, ok := w.(interface{ EntryBoundary() error }); ok {
						if werr = m.EntryBoundary(); werr != nil {
							break
						}
					}
					off += k
				}
				cerr := w.Close()
				done <- errors.Join(werr, cerr)
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("no error from a destination that fails")
				}
				t.Logf("error: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("writer hung after an error")
			}
		})
	}
	for _, opts := range []SegmentOptions{{Size: -1}, {Jobs: -2}} {
		if _, err := NewSegmentedWriter(io.Discard, lookup(t, "zstd", 0), opts); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

// TestSegmentedEmpty: no input still gives a valid (empty) stream.
func TestSegmentedEmpty(t *testing.T) {
	for _, name := range []string{"gzip", "zstd", "xz"} {
		var out bytes.Buffer
		w, err := NewSegmentedWriter(&out, lookup(t, name, 0), SegmentOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := compress(t, lookup(t, name, 0), nil); !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s: empty input gives % x, want % x", name, out.Bytes(), want)
		}
	}
}
