package cpiogen

import (
	"bytes"
	"io"
	"testing"
)

// TestPieces lays the sample archive out with Skip, cuts it after every
// possible set of entries, writes each piece from its State, and checks
// that the pieces concatenate to the archive a single Writer writes: the
// hard-link group, whose members span pieces, must keep one inode.
func TestPieces(t *testing.T) {
	tests := []struct {
		name string
		opts []WriterOption
	}{
		{"newc", nil},
		{"checksum", []WriterOption{WithChecksum(true)}},
		{"aligned", []WriterOption{WithDataAlign(512)}},
	}
	es := withSizes(sampleEntries())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := writeArchive(t, es, tt.opts...)
			states := layout(t, es, tt.opts)
			for _, cuts := range [][]int{{}, {1}, {5}, {13, 14, 15}, {3, 6, 9, 12, 15}, {len(es)}} {
				got := writePieces(t, es, states, cuts, tt.opts)
				if !bytes.Equal(got, want) {
					t.Errorf("cuts %v: pieces concatenate to %d bytes that differ from the archive's %d", cuts, len(got), len(want))
				}
			}
		})
	}
}

// layout returns the State before each entry and after the last.
func layout(t *testing.T, es []entry, opts []WriterOption) []State {
	t.Helper()
	w := NewWriter(io.Discard, opts...)
	var states []State
	for _, e := range es {
		states = append(states, w.State())
		h := e.h
		must(t, w.WriteHeader(&h))
		must(t, w.Skip())
	}
	return append(states, w.State())
}

// writePieces writes es cut before each index of cuts, each piece by its
// own Writer, the last one with the trailer.
func writePieces(t *testing.T, es []entry, states []State, cuts []int, opts []WriterOption) []byte {
	t.Helper()
	var out bytes.Buffer
	bounds := append(append([]int{0}, cuts...), len(es))
	for p := 0; p+1 < len(bounds); p++ {
		lo, hi := bounds[p], bounds[p+1]
		w := NewWriterAt(&out, states[lo], opts...)
		for _, e := range es[lo:hi] {
			h := e.h
			must(t, w.WriteHeader(&h))
			if _, err := w.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
		if p == len(bounds)-2 {
			must(t, w.Close())
		}
		if w.Offset() != int64(out.Len()) {
			t.Fatalf("piece %d-%d ends at offset %d, after %d bytes", lo, hi, w.Offset(), out.Len())
		}
	}
	return out.Bytes()
}

// TestSkipBetweenEntries: Skip outside a file's data changes nothing, and
// a skipped entry leaves the offset a full write would.
func TestSkipBetweenEntries(t *testing.T) {
	w := NewWriter(io.Discard)
	must(t, w.Skip())
	if w.Offset() != 0 {
		t.Fatalf("Skip before any entry moved the offset to %d", w.Offset())
	}
	h := Header{Name: "f", Mode: TypeReg | 0o644, Size: 5}
	must(t, w.WriteHeader(&h))
	must(t, w.Skip())
	if want := int64(HeaderSize + 2 + 5 + 3); w.Offset() != want {
		t.Errorf("offset after a skipped 5-byte file = %d, want %d", w.Offset(), want)
	}
	must(t, w.Skip())
	if w.State().Offset() != w.Offset() {
		t.Errorf("State().Offset() = %d, Offset() = %d", w.State().Offset(), w.Offset())
	}
}
