package cpiogen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hdr formats a header the way gen_init_cpio's dprintf does.
func hdr(magic string, ino, mode, uid, gid, nlink, mtime, size, maj, min, rmaj, rmin, namesize, check uint32) string {
	return fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		magic, ino, mode, uid, gid, nlink, mtime, size, maj, min, rmaj, rmin, namesize, check)
}

// TestGolden pins the exact bytes of a small archive, written out field
// by field as gen_init_cpio would for the spec
//
//	dir /dev 0755 0 0
//	nod /dev/console 0600 0 5 c 5 1
//	slink /bin busybox 0777 0 0
//	file /init <"#!\n"> 0755 0 0
//
// with -t 1000: magic, uppercase 8-digit fields, inode numbers from 721,
// device fields 3:1, nlink 2 for directories, NUL-terminated names padded
// to 4, symlink data with its NUL, data padded to 4, and the trailer
// (ino 0, mode 0, nlink 1, mtime 0) padded to 512.
func TestGolden(t *testing.T) {
	for _, csum := range []bool{false, true} {
		got := writeArchive(t, []entry{
			{h: Header{Name: "dev", Mode: TypeDir | 0o755, MTime: 1000}},
			{h: Header{Name: "dev/console", Mode: TypeChar | 0o600, GID: 5, MTime: 1000, RDevMajor: 5, RDevMinor: 1}},
			{h: Header{Name: "bin", Mode: TypeSymlink | 0o777, MTime: 1000, Linkname: "busybox"}},
			{h: Header{Name: "init", Mode: TypeReg | 0o755, MTime: 1000}, data: []byte("#!\n")},
		}, WithChecksum(csum))
		if want := goldenArchive(csum); string(got) != want {
			t.Errorf("checksum=%v:\n got %q\nwant %q", csum, got, want)
		}
	}
}

// goldenArchive is TestGolden's archive, built field by field.
func goldenArchive(csum bool) string {
	magic := "070701"
	check := uint32(0)
	if csum {
		magic = "070702"
		check = '#' + '!' + '\n'
	}
	want := hdr(magic, 721, 0o40755, 0, 0, 2, 1000, 0, 3, 1, 0, 0, 4, 0) + "dev\x00" + "\x00\x00" +
		hdr(magic, 722, 0o20600, 0, 5, 1, 1000, 0, 3, 1, 5, 1, 12, 0) + "dev/console\x00" + "\x00\x00" +
		hdr(magic, 723, 0o120777, 0, 0, 1, 1000, 8, 3, 1, 0, 0, 4, 0) + "bin\x00" + "\x00\x00" + "busybox\x00" +
		hdr(magic, 724, 0o100755, 0, 0, 1, 1000, 3, 3, 1, 0, 0, 5, check) + "init\x00" + "\x00" + "#!\n\x00" +
		hdr(magic, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0) + "TRAILER!!!\x00" + "\x00\x00\x00"
	return want + strings.Repeat("\x00", (512-len(want)%512)%512)
}

// TestLayout checks the record rules on every combination of name length
// and data size modulo 4, with the tests' own parser.
func TestLayout(t *testing.T) {
	var es []entry
	for nl := 1; nl <= 8; nl++ {
		for ds := 0; ds <= 9; ds++ {
			name := strings.Repeat("n", nl-1) + string(rune('a'+ds))
			es = append(es, entry{h: Header{Name: name, Mode: TypeReg | 0o644}, data: bytes.Repeat([]byte{0xA5}, ds)})
		}
	}
	es = append(es, entry{h: Header{Name: "d", Mode: TypeDir | 0o755}})
	b := writeArchive(t, es)
	if len(b)%512 != 0 {
		t.Errorf("archive length %d is not a multiple of 512", len(b))
	}
	recs := parseRaw(t, b)
	if len(recs) != len(es)+1 {
		t.Fatalf("%d records, want %d", len(recs), len(es)+1)
	}
	for i, e := range es {
		r := recs[i]
		if r.magic != "070701" {
			t.Errorf("%v: magic %q", r, r.magic)
		}
		if string(r.name) != e.h.Name+"\x00" || int(r.f[11]) != len(e.h.Name)+1 {
			t.Errorf("%v: namesize %d, want %d", r, r.f[11], len(e.h.Name)+1)
		}
		if !bytes.Equal(r.data, e.data) {
			t.Errorf("%v: data %q, want %q", r, r.data, e.data)
		}
		if r.f[0] != uint32(721+i) {
			t.Errorf("%v: ino %d, want %d", r, r.f[0], 721+i)
		}
		if r.f[7] != 3 || r.f[8] != 1 {
			t.Errorf("%v: dev %d:%d, want 3:1", r, r.f[7], r.f[8])
		}
	}
	if d := recs[len(es)-1]; d.f[4] != 2 {
		t.Errorf("directory nlink %d, want 2", d.f[4])
	}
	tr := recs[len(es)]
	if tr.f != [13]uint32{4: 1, 11: 11} {
		t.Errorf("trailer fields %v", tr.f)
	}
}

func TestInodesAndLinks(t *testing.T) {
	es := sampleEntries()
	recs := parseRaw(t, writeArchive(t, es))
	ino := uint32(721)
	var linkIno uint32
	for i, e := range es {
		r := recs[i]
		wantNlink := e.h.NLink
		if wantNlink == 0 {
			wantNlink = 1
			if e.h.Type() == TypeDir {
				wantNlink = 2
			}
		}
		if r.f[4] != wantNlink {
			t.Errorf("%s: nlink %d, want %d", e.h.Name, r.f[4], wantNlink)
		}
		if e.h.LinkKey != "" {
			if linkIno == 0 {
				linkIno = ino
				ino++
			}
			if r.f[0] != linkIno {
				t.Errorf("%s: hard link ino %d, want %d", e.h.Name, r.f[0], linkIno)
			}
			continue
		}
		if r.f[0] != ino {
			t.Errorf("%s: ino %d, want %d", e.h.Name, r.f[0], ino)
		}
		ino++
	}
}

// TestWriterFillsHeader checks what WriteHeader reports back to the caller.
func TestWriterFillsHeader(t *testing.T) {
	w := NewWriter(io.Discard)
	h := Header{Name: "a", Mode: TypeDir | 0o755}
	must(t, w.WriteHeader(&h))
	l := Header{Name: "l", Mode: TypeSymlink | 0o777, Linkname: "abc", Size: 99}
	must(t, w.WriteHeader(&l))
	if h.Ino != 721 || h.DevMajor != 3 || h.DevMinor != 1 || l.Ino != 722 || l.Size != 4 {
		t.Errorf("got dir ino %d dev %d:%d, symlink ino %d size %d", h.Ino, h.DevMajor, h.DevMinor, l.Ino, l.Size)
	}
}

func TestChecksumField(t *testing.T) {
	data := []byte{0xFF, 0xFF, 0x01, 0x80}
	var buf bytes.Buffer
	w := NewWriter(&buf, WithChecksum(true))
	h := Header{Name: "f", Mode: TypeReg | 0o644, Size: 4, Check: 0xFF + 0xFF + 1 + 0x80}
	must(t, w.WriteHeader(&h))
	_, err := w.Write(data)
	must(t, err)
	must(t, w.Close())
	recs := parseRaw(t, buf.Bytes())
	if recs[0].magic != "070702" || recs[1].magic != "070702" {
		t.Errorf("magics %q %q, want 070702", recs[0].magic, recs[1].magic)
	}
	if recs[0].f[12] != 0x27F {
		t.Errorf("check field %#x, want 0x27F", recs[0].f[12])
	}
	c := NewChecksum()
	c.Write(data[:1])
	c.Write(data[1:])
	if c.Sum32() != 0x27F || !bytes.Equal(c.Sum(nil), []byte{0, 0, 2, 0x7F}) {
		t.Errorf("NewChecksum: %#x %x", c.Sum32(), c.Sum(nil))
	}
	// The byte sum wraps at 2^32.
	var s checksum = 0xFFFFFFFF
	s.Write([]byte{2})
	if s != 1 {
		t.Errorf("checksum does not wrap: %#x", uint32(s))
	}

	// A wrong Check is caught when the data is complete.
	w = NewWriter(io.Discard, WithChecksum(true))
	h = Header{Name: "f", Mode: TypeReg | 0o644, Size: 4, Check: 1}
	must(t, w.WriteHeader(&h))
	if _, err := w.Write(data); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "f:") {
		t.Errorf("wrong Check: err = %v, want ErrChecksum naming f", err)
	}
	if err := w.Close(); !errors.Is(err, ErrChecksum) {
		t.Errorf("Close after checksum error: %v", err)
	}
	// Without checksums, Check is ignored and written as 0.
	recs = parseRaw(t, writeArchive(t, []entry{{h: Header{Name: "f", Mode: TypeReg, Check: 5}, data: data}}))
	if recs[0].f[12] != 0 {
		t.Errorf("newc check field %#x, want 0", recs[0].f[12])
	}
}

func TestWriterErrors(t *testing.T) {
	reg := func(name string, size int64) Header { return Header{Name: name, Mode: TypeReg | 0o644, Size: size} }
	tests := []struct {
		name    string
		opts    []WriterOption
		h       Header
		wantIs  error
		wantMsg string
	}{
		{"4GiB", nil, reg("big", 1<<32), ErrFileTooLarge, "big: cpiogen: file too large for newc: 4294967296 bytes (limit 4 GiB - 1)"},
		{"negative size", nil, reg("f", -1), ErrHeader, "negative size"},
		{"NUL in name", nil, reg("a\x00b", 0), ErrHeader, "NUL"},
		{"empty name", nil, reg("", 0), ErrHeader, "empty name"},
		{"long name", nil, reg(strings.Repeat("x", PathMax), 0), ErrHeader, "PATH_MAX"},
		{"absolute", nil, reg("/etc", 0), ErrHeader, "relative"},
		{"trailer name", nil, reg(Trailer, 0), ErrHeader, "end the archive"},
		{"mtime too big", nil, Header{Name: "f", Mode: TypeReg, MTime: 1 << 32}, ErrHeader, "mtime 4294967296"},
		{"mtime negative", nil, Header{Name: "f", Mode: TypeReg, MTime: -1}, ErrHeader, "mtime -1"},
		{"no type", nil, Header{Name: "f", Mode: 0o644}, ErrHeader, "no valid file type"},
		{"bad type", nil, Header{Name: "f", Mode: 0o170644}, ErrHeader, "no valid file type"},
		{"extra mode bits", nil, Header{Name: "f", Mode: TypeReg | 1<<20}, ErrHeader, "beyond"},
		{"dir with data", nil, Header{Name: "d", Mode: TypeDir, Size: 1}, ErrHeader, "cannot have data"},
		{"major too big", nil, Header{Name: "c", Mode: TypeChar, RDevMajor: 4096}, ErrHeader, "device 4096:0 is out of Linux's range"},
		{"minor too big", nil, Header{Name: "b", Mode: TypeBlock, RDevMajor: 8, RDevMinor: 1 << 20}, ErrHeader, "device 8:1048576 is out of Linux's range"},
		{"empty symlink", nil, Header{Name: "l", Mode: TypeSymlink}, ErrHeader, "empty target"},
		{"NUL in target", nil, Header{Name: "l", Mode: TypeSymlink, Linkname: "a\x00"}, ErrHeader, "NUL"},
		{"long target", nil, Header{Name: "l", Mode: TypeSymlink, Linkname: strings.Repeat("x", PathMax)}, ErrHeader, "PATH_MAX"},
		{"target on file", nil, Header{Name: "f", Mode: TypeReg, Linkname: "x"}, ErrHeader, "link target"},
		{"rdev on file", nil, Header{Name: "f", Mode: TypeReg, RDevMajor: 1}, ErrHeader, "device number"},
		{"hard-linked dir", nil, Header{Name: "d", Mode: TypeDir, NLink: 2, LinkKey: "k"}, ErrHeader, "hard-link"},
		{"checksum on empty", []WriterOption{WithChecksum(true)}, Header{Name: "f", Mode: TypeReg, Check: 3}, ErrHeader, "empty data"},
		{"bad align", []WriterOption{WithDataAlign(12)}, reg("f", 0), ErrHeader, "power of two"},
		{"tiny align", []WriterOption{WithDataAlign(2)}, reg("f", 0), ErrHeader, "power of two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, tt.opts...)
			h := tt.h
			err := w.WriteHeader(&h)
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.wantIs, tt.wantMsg)
			}
			if buf.Len() != 0 || w.Offset() != 0 {
				t.Errorf("invalid header wrote %d bytes", buf.Len())
			}
			if tt.opts != nil {
				return
			}
			// The Writer stays usable after an invalid header.
			ok := Header{Name: "ok", Mode: TypeDir | 0o755}
			must(t, w.WriteHeader(&ok))
			must(t, w.Close())
			if recs := parseRaw(t, buf.Bytes()); recs[0].f[0] != 721 {
				t.Errorf("ino after rejected header: %d, want 721", recs[0].f[0])
			}
		})
	}
}

func TestHardLinkErrors(t *testing.T) {
	tests := []struct {
		name   string
		first  Header
		second Header
		want   string
	}{
		{"nlink 1", Header{Name: "a", Mode: TypeReg, LinkKey: "k"}, Header{Name: "b", Mode: TypeReg, LinkKey: "k"}, "NLink >= 2"},
		{"nlink differs", Header{Name: "a", Mode: TypeReg, NLink: 2, LinkKey: "k"}, Header{Name: "b", Mode: TypeReg, NLink: 3, LinkKey: "k"}, "nlink 3 vs 2"},
		{"type differs", Header{Name: "a", Mode: TypeReg, NLink: 2, LinkKey: "k"}, Header{Name: "b", Mode: TypeFIFO, NLink: 2, LinkKey: "k"}, "fifo vs regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter(io.Discard)
			must(t, w.WriteHeader(&tt.first))
			err := w.WriteHeader(&tt.second)
			if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "b: hard link to a") {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDataErrors(t *testing.T) {
	t.Run("short data at next header", func(t *testing.T) {
		w := NewWriter(io.Discard)
		h := Header{Name: "usr/short", Mode: TypeReg, Size: 10}
		must(t, w.WriteHeader(&h))
		_, err := w.Write([]byte("abc"))
		must(t, err)
		next := Header{Name: "n", Mode: TypeDir}
		err = w.WriteHeader(&next)
		if !errors.Is(err, ErrIncomplete) || err.Error() != "usr/short: cpiogen: entry data incomplete: wrote 3 of 10 bytes" {
			t.Errorf("err = %v", err)
		}
		if err2 := w.Close(); err2 != err {
			t.Errorf("Close after incomplete entry: %v, want the same error", err2)
		}
	})
	t.Run("short data at close", func(t *testing.T) {
		w := NewWriter(io.Discard)
		h := Header{Name: "last", Mode: TypeReg, Size: 1}
		must(t, w.WriteHeader(&h))
		if err := w.Close(); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "last") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("extra data", func(t *testing.T) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		h := Header{Name: "f", Mode: TypeReg, Size: 2}
		must(t, w.WriteHeader(&h))
		n, err := w.Write([]byte("abc"))
		if n != 2 || !errors.Is(err, ErrWriteTooLong) || !strings.Contains(err.Error(), "f:") {
			t.Errorf("Write = %d, %v", n, err)
		}
		if err := w.Close(); !errors.Is(err, ErrWriteTooLong) {
			t.Errorf("Close after too long write: %v", err)
		}
	})
	t.Run("data for a directory", func(t *testing.T) {
		w := NewWriter(io.Discard)
		h := Header{Name: "d", Mode: TypeDir}
		must(t, w.WriteHeader(&h))
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrWriteTooLong) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("write after close", func(t *testing.T) {
		w := NewWriter(io.Discard)
		must(t, w.Close())
		h := Header{Name: "d", Mode: TypeDir}
		if err := w.WriteHeader(&h); !errors.Is(err, ErrWriteAfterClose) {
			t.Errorf("err = %v", err)
		}
		must(t, w.Close())
	})
	t.Run("underlying error is sticky", func(t *testing.T) {
		w := NewWriter(&failWriter{n: 200})
		h := Header{Name: "f", Mode: TypeReg, Size: 1000}
		must(t, w.WriteHeader(&h))
		if _, err := w.Write(make([]byte, 1000)); !errors.Is(err, errFail) {
			t.Errorf("Write: %v", err)
		}
		if err := w.Close(); !errors.Is(err, errFail) {
			t.Errorf("Close: %v", err)
		}
	})
}

var errFail = errors.New("disk full")

// failWriter accepts n bytes, then fails.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errFail
	}
	f.n -= len(p)
	return len(p), nil
}

// boundaryRecorder records the offset of every EntryBoundary call.
type boundaryRecorder struct {
	bytes.Buffer
	at   []int
	fail int // fail on this call (1-based), 0 never
}

func (b *boundaryRecorder) EntryBoundary() error {
	b.at = append(b.at, b.Len())
	if len(b.at) == b.fail {
		return errFail
	}
	return nil
}

func TestBoundaryMarker(t *testing.T) {
	var rec boundaryRecorder
	w := NewWriter(&rec)
	es := withSizes(sampleEntries())
	for _, e := range es {
		h := e.h
		must(t, w.WriteHeader(&h))
		// Data in two pieces: no boundary may fall between them.
		half := len(e.data) / 2
		_, err := w.Write(e.data[:half])
		must(t, err)
		_, err = w.Write(e.data[half:])
		must(t, err)
	}
	must(t, w.Close())
	var want []int
	for _, r := range parseRaw(t, rec.Bytes()) {
		end := r.dataOff + len(r.data)
		want = append(want, end+int(pad4(int64(end))))
	}
	want[len(want)-1] = rec.Len() // the trailer's boundary is after the 512 padding
	if fmt.Sprint(rec.at) != fmt.Sprint(want) {
		t.Errorf("boundaries at %v\nwant %v", rec.at, want)
	}

	// An error from EntryBoundary stops the Writer.
	rec = boundaryRecorder{fail: 2}
	w = NewWriter(&rec)
	for i, name := range []string{"a", "b", "c"} {
		h := Header{Name: name, Mode: TypeDir}
		err := w.WriteHeader(&h)
		if (i >= 1) != errors.Is(err, errFail) {
			t.Errorf("entry %s: err = %v", name, err)
		}
	}
}

func TestDeterminism(t *testing.T) {
	for _, opts := range [][]WriterOption{nil, {WithChecksum(true), WithDataAlign(64)}} {
		a := writeArchive(t, sampleEntries(), opts...)
		b := writeArchive(t, sampleEntries(), opts...)
		if !bytes.Equal(a, b) {
			t.Errorf("two runs differ")
		}
	}
}

func TestDataAlign(t *testing.T) {
	const align = 256
	es := []entry{
		{h: Header{Name: "small", Mode: TypeReg}, data: make([]byte, align)}, // not > align: unpadded
		{h: Header{Name: "a", Mode: TypeReg}, data: bytes.Repeat([]byte("a"), 300)},
		{h: Header{Name: "dir", Mode: TypeDir}},
		{h: Header{Name: "bb", Mode: TypeReg}, data: bytes.Repeat([]byte("b"), 1000)},
		{h: Header{Name: "long/" + strings.Repeat("x", PathMax-8), Mode: TypeReg}, data: bytes.Repeat([]byte("c"), 300)},
	}
	b := writeArchive(t, es, WithDataAlign(align))
	recs := parseRaw(t, b)
	if recs[0].f[11] != 6 {
		t.Errorf("small file padded: namesize %d", recs[0].f[11])
	}
	for _, i := range []int{1, 3} {
		if recs[i].dataOff%align != 0 {
			t.Errorf("%v: data at %d, not aligned to %d", recs[i], recs[i].dataOff, align)
		}
		if !bytes.HasPrefix(recs[i].name, []byte(es[i].h.Name+"\x00")) || len(bytes.Trim(recs[i].name[len(es[i].h.Name):], "\x00")) != 0 {
			t.Errorf("%v: padded name %q", recs[i], recs[i].name)
		}
	}
	// Best effort: padding that would pass PATH_MAX is skipped.
	l := recs[4]
	if int(l.f[11]) != len(es[4].h.Name)+1 {
		t.Errorf("long name padded to %d", l.f[11])
	}
	if need := align - (l.off+HeaderSize+int(l.f[11]))%align; int(l.f[11])+need <= PathMax {
		t.Fatalf("test setup: aligning the long name needs only %d bytes", need)
	}
	// The padding is invisible to readers.
	checkRoundTrip(t, b, es)
}

func TestReadFrom(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	data = append(data, 'x')
	must(t, os.WriteFile(src, data, 0o644))

	for _, csum := range []bool{false, true} {
		out, err := os.Create(filepath.Join(dir, fmt.Sprint("out", csum)))
		must(t, err)
		w := NewWriter(out, WithChecksum(csum))
		h := Header{Name: "f", Mode: TypeReg | 0o644, Size: int64(len(data)), Check: sumBytes(0, data)}
		must(t, w.WriteHeader(&h))
		f, err := os.Open(src)
		must(t, err)
		n, err := io.Copy(w, f) // uses Writer.ReadFrom
		f.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("checksum=%v: io.Copy = %d, %v", csum, n, err)
		}
		must(t, w.Close())
		out.Close()
		b, err := os.ReadFile(out.Name())
		must(t, err)
		if int64(len(b)) != w.Offset() {
			t.Errorf("file has %d bytes, Offset %d", len(b), w.Offset())
		}
		checkRoundTrip(t, b, []entry{{h: Header{Name: "f", Mode: TypeReg | 0o644}, data: data}})
	}

	w := NewWriter(io.Discard)
	h := Header{Name: "f", Mode: TypeReg, Size: 3}
	must(t, w.WriteHeader(&h))
	if _, err := w.ReadFrom(strings.NewReader("abcd")); !errors.Is(err, ErrWriteTooLong) {
		t.Errorf("too much data: %v", err)
	}
	w = NewWriter(io.Discard)
	must(t, w.WriteHeader(&h))
	if n, err := w.ReadFrom(strings.NewReader("ab")); n != 2 || err != nil {
		t.Errorf("short source: %d, %v", n, err)
	}
	if err := w.Close(); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Close after short source: %v", err)
	}
	w = NewWriter(io.Discard, WithChecksum(true))
	h.Check = 1
	must(t, w.WriteHeader(&h))
	if _, err := w.ReadFrom(strings.NewReader("abc")); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong checksum through ReadFrom: %v", err)
	}
}

func TestFileMode(t *testing.T) {
	tests := []struct {
		mode uint32
		fm   fs.FileMode
	}{
		{TypeReg | 0o644, 0o644},
		{TypeReg | 0o4755, fs.ModeSetuid | 0o755},
		{TypeReg | 0o2711, fs.ModeSetgid | 0o711},
		{TypeDir | 0o1777, fs.ModeDir | fs.ModeSticky | 0o777},
		{TypeSymlink | 0o777, fs.ModeSymlink | 0o777},
		{TypeChar | 0o620, fs.ModeDevice | fs.ModeCharDevice | 0o620},
		{TypeBlock | 0o660, fs.ModeDevice | 0o660},
		{TypeFIFO | 0o600, fs.ModeNamedPipe | 0o600},
		{TypeSocket | 0o755, fs.ModeSocket | 0o755},
	}
	for _, tt := range tests {
		h := Header{Mode: tt.mode}
		if got := h.FileMode(); got != tt.fm {
			t.Errorf("FileMode(%#o) = %v, want %v", tt.mode, got, tt.fm)
		}
		if got, err := ModeFromFileMode(tt.fm); err != nil || got != tt.mode {
			t.Errorf("ModeFromFileMode(%v) = %#o, %v; want %#o", tt.fm, got, err, tt.mode)
		}
		if h.Type() != tt.mode&TypeMask {
			t.Errorf("Type(%#o) = %#o", tt.mode, h.Type())
		}
	}
	if _, err := ModeFromFileMode(fs.ModeIrregular | 0o644); err == nil {
		t.Error("ModeFromFileMode(ModeIrregular) succeeded")
	}
	if m := (&Header{Mode: 0o170644}).FileMode(); m&fs.ModeIrregular == 0 {
		t.Errorf("unknown type gave %v", m)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadFromBuffer: copying into a writer that cannot read from a file
// itself (a compressor) goes through one buffer for the whole archive, not
// a new one per file: 50,000 files would otherwise allocate 1.5 GB.
func TestReadFromBuffer(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 100<<10)
	w := NewWriter(struct{ io.Writer }{io.Discard})
	src := bytes.NewReader(data)
	writeOne := func() {
		h := Header{Name: "f", Mode: TypeReg | 0o644, Size: int64(len(data))}
		must(t, w.WriteHeader(&h))
		src.Reset(data)
		if _, err := w.ReadFrom(struct{ io.Reader }{src}); err != nil {
			t.Fatal(err)
		}
	}
	writeOne() // allocates the buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		writeOne()
	}
	runtime.ReadMemStats(&after)
	if perFile := (after.TotalAlloc - before.TotalAlloc) / 100; perFile > 1<<10 {
		t.Errorf("%d bytes allocated per file, want at most 1 KiB", perFile)
	}
}
