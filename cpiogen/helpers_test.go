package cpiogen

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// entry is one archive member for tests: a header and its data.
type entry struct {
	h    Header
	data []byte
}

// sampleEntries covers every file type, hard links, setuid bits, odd data
// sizes (padding) and device numbers with minors >= 256 (the full Linux
// major/minor split).
func sampleEntries() []entry {
	big := make([]byte, 5001)
	for i := range big {
		big[i] = byte(i*7 + i/251)
	}
	return []entry{
		{h: Header{Name: ".", Mode: TypeDir | 0o755}},
		{h: Header{Name: "dir", Mode: TypeDir | 0o750, UID: 1000, GID: 100, MTime: 1700000000}},
		{h: Header{Name: "dir/file", Mode: TypeReg | 0o644, MTime: 1234567890}, data: []byte("hello\n")},
		{h: Header{Name: "dir/empty", Mode: TypeReg | 0o600, UID: 7, GID: 8}},
		{h: Header{Name: "dir/exec", Mode: TypeReg | 0o4755, MTime: 86400}, data: big},
		{h: Header{Name: "link", Mode: TypeSymlink | 0o777, Linkname: "dir/file"}},
		{h: Header{Name: "abs", Mode: TypeSymlink | 0o777, UID: 5, GID: 6, Linkname: "/dir/exec"}},
		{h: Header{Name: "dev", Mode: TypeDir | 0o755}},
		{h: Header{Name: "dev/chr", Mode: TypeChar | 0o620, GID: 5, RDevMajor: 4, RDevMinor: 300}},
		{h: Header{Name: "dev/blk", Mode: TypeBlock | 0o660, GID: 6, RDevMajor: 259, RDevMinor: 70000}},
		{h: Header{Name: "fifo", Mode: TypeFIFO | 0o644}},
		{h: Header{Name: "sock", Mode: TypeSocket | 0o755}},
		{h: Header{Name: "hl", Mode: TypeDir | 0o1777}},
		{h: Header{Name: "hl/a", Mode: TypeReg | 0o2755, NLink: 3, LinkKey: "x"}},
		{h: Header{Name: "hl/b", Mode: TypeReg | 0o2755, NLink: 3, LinkKey: "x"}},
		{h: Header{Name: "hl/c", Mode: TypeReg | 0o2755, NLink: 3, LinkKey: "x"}, data: []byte("linked data")},
	}
}

// withSizes fills Size and Check from the data.
func withSizes(es []entry) []entry {
	for i := range es {
		if es[i].h.Type() == TypeReg {
			es[i].h.Size = int64(len(es[i].data))
			es[i].h.Check = sumBytes(0, es[i].data)
		}
	}
	return es
}

// writeArchive writes es (sizes filled in) and returns the archive.
func writeArchive(t testing.TB, es []entry, opts ...WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opts...)
	for _, e := range withSizes(es) {
		h := e.h
		if err := w.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%s): %v", h.Name, err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatalf("Write(%s): %v", h.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if w.Offset() != int64(buf.Len()) {
		t.Fatalf("Offset() = %d, wrote %d bytes", w.Offset(), buf.Len())
	}
	return buf.Bytes()
}

// rawRecord is a record parsed by the tests' own minimal parser, which
// does not share code with Reader so that layout bugs cannot cancel out.
type rawRecord struct {
	off     int    // header offset
	magic   string // 6 bytes
	f       [13]uint32
	name    []byte // namesize bytes, NULs included
	dataOff int
	data    []byte
}

func (r rawRecord) String() string { return fmt.Sprintf("%q@%d", r.name, r.off) }

// parseRaw splits an archive into records, checking as it goes the
// layout rules every record must follow.
func parseRaw(t testing.TB, b []byte) []rawRecord {
	t.Helper()
	var recs []rawRecord
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("record at offset %d is not 4-aligned", off)
		}
		if off+HeaderSize > len(b) {
			t.Fatalf("truncated header at %d", off)
		}
		r := rawRecord{off: off, magic: string(b[off : off+6])}
		for i := range r.f {
			s := string(b[off+6+8*i : off+14+8*i])
			if strings.Trim(s, "0123456789ABCDEF") != "" {
				t.Fatalf("%d: field %d %q is not uppercase hex", off, i, s)
			}
			v, err := strconv.ParseUint(s, 16, 32)
			if err != nil {
				t.Fatalf("%d: field %d %q: %v", off, i, s, err)
			}
			r.f[i] = uint32(v)
		}
		ns := int(r.f[11])
		p := off + HeaderSize
		r.name = b[p : p+ns]
		if r.name[ns-1] != 0 {
			t.Fatalf("%d: name %q not NUL-terminated", off, r.name)
		}
		p += ns
		for ; p%4 != 0; p++ {
			if b[p] != 0 {
				t.Fatalf("%d: non-zero name padding", off)
			}
		}
		r.dataOff = p
		r.data = b[p : p+int(r.f[6])]
		p += int(r.f[6])
		for ; p%4 != 0; p++ {
			if b[p] != 0 {
				t.Fatalf("%d: non-zero data padding", off)
			}
		}
		recs = append(recs, r)
		off = p
		if string(bytes.TrimRight(r.name, "\x00")) == Trailer {
			break
		}
	}
	for _, c := range b[off:] {
		if c != 0 {
			t.Fatalf("non-zero byte after the trailer at %d", off)
		}
	}
	return recs
}
