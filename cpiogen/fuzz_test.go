package cpiogen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader. It must never panic nor
// allocate from untrusted sizes, every error must be one of the documented
// kinds, every header it returns must be self-consistent, and whatever it
// accepts and the Writer can express must survive a Writer→Reader round
// trip unchanged.
func FuzzReader(f *testing.F) {
	f.Add(writeArchive(f, sampleEntries()))
	f.Add(writeArchive(f, sampleEntries(), WithChecksum(true)))
	f.Add(writeArchive(f, sampleEntries()[:6], WithDataAlign(64)))
	f.Add([]byte(rec("070701", 0o120777, 4, 2, "l\x00", "abc\x00") + trailerRec))
	f.Add([]byte(rec("070702", 0o100644, 3, 2, "f\x00", "abc") + trailerRec))
	f.Add([]byte(trailerRec))
	f.Add([]byte("070707"))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		var err error
		for i := 0; i < 10000; i++ {
			var h *Header
			h, err = r.Next()
			if err != nil {
				break
			}
			checkHeader(t, h)
			var b []byte
			b, err = io.ReadAll(r)
			if err == nil {
				want := h.Size
				if h.Type() == TypeSymlink {
					want = 0
				}
				if int64(len(b)) != want {
					t.Fatalf("%s: read %d data bytes, Size %d", h.Name, len(b), h.Size)
				}
			}
			if err != nil {
				if !errors.Is(err, ErrChecksum) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("%s: Read error of unexpected kind: %v", h.Name, err)
				}
				break
			}
			roundTrip(t, h, b)
		}
		switch {
		case err == io.EOF:
			if !bytes.Contains(data, []byte(Trailer+"\x00")) {
				t.Fatal("io.EOF without a trailer")
			}
		case errors.Is(err, ErrFormat), errors.Is(err, ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		case err == nil: // more than 10000 entries
		default:
			t.Fatalf("error of unexpected kind: %v", err)
		}
		if err != nil {
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
		}
	})
}

func checkHeader(t *testing.T, h *Header) {
	t.Helper()
	switch {
	case h.Name == "" || strings.IndexByte(h.Name, 0) >= 0 || len(h.Name) >= maxNameSize:
		t.Fatalf("bad name %q", h.Name)
	case h.Name == Trailer:
		t.Fatal("trailer returned as an entry")
	case h.Size < 0 || h.Size > MaxSize || h.MTime < 0 || h.MTime > MaxSize:
		t.Fatalf("%s: size %d mtime %d out of range", h.Name, h.Size, h.MTime)
	case strings.IndexByte(h.Linkname, 0) >= 0 || int64(len(h.Linkname)) > h.Size:
		t.Fatalf("%s: bad link target %q for size %d", h.Name, h.Linkname, h.Size)
	case h.Linkname != "" && h.Type() != TypeSymlink:
		t.Fatalf("%s: link target on a %s", h.Name, typeName(h.Type()))
	}
	wantKey := h.NLink >= 2 && h.Type() != TypeDir && h.Type() != TypeSymlink
	if (h.LinkKey != "") != wantKey || wantKey && h.LinkKey != fmt.Sprintf("%d:%d:%d", h.DevMajor, h.DevMinor, h.Ino) {
		t.Fatalf("%s: LinkKey %q for nlink %d", h.Name, h.LinkKey, h.NLink)
	}
}

// roundTrip writes h and data with a Writer, if it accepts them, and
// checks that a Reader gives them back.
func roundTrip(t *testing.T, h *Header, data []byte) {
	t.Helper()
	in := *h
	in.LinkKey, in.NLink = "", 0
	in.Check = sumBytes(0, data)
	if in.Type() != TypeReg {
		in.Check = 0
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, WithChecksum(true))
	if w.WriteHeader(&in) != nil {
		return // not something we write (absolute name, odd mode, ...)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("%s: Write: %v", h.Name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: Close: %v", h.Name, err)
	}
	r := NewReader(&buf)
	out, err := r.Next()
	if err != nil {
		t.Fatalf("%s: reading back: %v", h.Name, err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: reading back data: %v", h.Name, err)
	}
	if out.Name != h.Name || out.Mode != h.Mode || out.UID != h.UID || out.GID != h.GID ||
		out.MTime != h.MTime || out.Linkname != h.Linkname || out.RDevMajor != h.RDevMajor ||
		out.RDevMinor != h.RDevMinor || !bytes.Equal(got, data) {
		t.Fatalf("round trip changed the entry:\n in %+v\nout %+v", *h, *out)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("%s: after the entry: %v", h.Name, err)
	}
}
