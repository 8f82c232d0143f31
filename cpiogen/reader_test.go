package cpiogen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// checkRoundTrip reads archive b and compares it with the entries it was
// written from.
func checkRoundTrip(t *testing.T, b []byte, es []entry) {
	t.Helper()
	es = withSizes(es)
	r := NewReader(bytes.NewReader(b))
	ino := uint32(721)
	links := map[string]string{} // writer LinkKey -> reader LinkKey
	linkIno := map[string]uint32{}
	for _, e := range es {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("Next (want %s): %v", e.h.Name, err)
		}
		want := e.h
		if want.NLink == 0 {
			want.NLink = 1
			if want.Type() == TypeDir {
				want.NLink = 2
			}
		}
		if want.Type() == TypeSymlink {
			want.Size = int64(len(want.Linkname)) + 1
		}
		want.Check = got.Check // compared through the checksum verification
		want.DevMajor, want.DevMinor = 3, 1
		if want.LinkKey != "" {
			if _, ok := linkIno[want.LinkKey]; !ok {
				linkIno[want.LinkKey] = ino
				ino++
			}
			want.Ino = linkIno[want.LinkKey]
			if rk, ok := links[want.LinkKey]; ok && rk != got.LinkKey {
				t.Errorf("%s: LinkKey %q, want %q like the other links", got.Name, got.LinkKey, rk)
			}
			links[want.LinkKey] = got.LinkKey
			want.LinkKey = got.LinkKey
			if got.LinkKey == "" {
				t.Errorf("%s: hard link has no LinkKey", got.Name)
			}
		} else {
			want.Ino = ino
			ino++
		}
		if *got != want {
			t.Errorf("header:\n got %+v\nwant %+v", *got, want)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: reading data: %v", got.Name, err)
		}
		if !bytes.Equal(data, e.data) {
			t.Errorf("%s: data %d bytes, want %d", got.Name, len(data), len(e.data))
		}
	}
	for i := 0; i < 2; i++ {
		if h, err := r.Next(); err != io.EOF {
			t.Fatalf("after the last entry: %v, %v; want io.EOF", h, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []WriterOption
	}{
		{"newc", nil},
		{"checksum", []WriterOption{WithChecksum(true)}},
		{"align", []WriterOption{WithDataAlign(64)}},
		{"checksum+align", []WriterOption{WithChecksum(true), WithDataAlign(4096)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRoundTrip(t, writeArchive(t, sampleEntries(), tc.opts...), sampleEntries())
		})
	}
}

// TestReaderSkips reads entries partly or not at all; Next must skip the
// rest, and still verify checksums of what it skips.
func TestReaderSkips(t *testing.T) {
	es := sampleEntries()
	b := writeArchive(t, es, WithChecksum(true))
	r := NewReader(bytes.NewReader(b))
	var names []string
	for i := 0; ; i++ {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		names = append(names, h.Name)
		if i%2 == 0 && h.Size > 2 && h.Type() == TypeReg {
			var p [2]byte
			if _, err := io.ReadFull(r, p[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(names) != len(es) {
		t.Errorf("read %d entries: %v", len(names), names)
	}

	// Corrupt one data byte of dir/exec: skipping it must fail.
	bad := bytes.Clone(b)
	i := bytes.Index(bad, []byte("dir/exec\x00"))
	bad[i+12] ^= 1
	r = NewReader(bytes.NewReader(bad))
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "dir/exec") {
		t.Errorf("skipping corrupt data: %v", err)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}

	// The same through Read.
	r = NewReader(bytes.NewReader(bad))
	for {
		h, err := r.Next()
		must(t, err)
		if h.Name == "dir/exec" {
			break
		}
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrChecksum) {
		t.Errorf("reading corrupt data: %v", err)
	}
}

// rec builds one record by hand for malformed-input tests.
func rec(magic string, mode, size uint32, namesize uint32, name, data string) string {
	s := hdr(magic, 1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, namesize, 0) + name
	s += strings.Repeat("\x00", int(pad4(int64(len(s)))))
	s += data + strings.Repeat("\x00", int(pad4(int64(len(data)))))
	return s
}

var trailerRec = rec("070701", 0, 0, 11, "TRAILER!!!\x00", "")

func TestReaderErrors(t *testing.T) {
	good := rec("070701", 0o100644, 3, 2, "f\x00", "abc")
	tests := []struct {
		name    string
		archive string
		wantIs  error
		wantMsg string
	}{
		{"odc", strings.Replace(good, "070701", "070707", 1) + trailerRec, ErrFormat, "offset 0: bad magic \"070707\""},
		{"binary", "\xc7\x71" + good[2:] + trailerRec, ErrFormat, "old binary format"},
		{"bad magic later", good + "0707X1" + trailerRec[6:], ErrFormat, fmt.Sprintf("offset %d: bad magic", len(good))},
		{"non-hex field", good[:14] + "0000G000" + good[22:] + trailerRec, ErrFormat, "offset 14: header field mode is \"0000G000\""},
		{"hex with sign", good[:14] + "+0000001" + good[22:] + trailerRec, ErrFormat, "field mode"},
		{"namesize 0", rec("070701", 0o100644, 0, 0, "", "") + trailerRec, ErrFormat, "namesize 0"},
		{"namesize huge", rec("070701", 0o100644, 0, 0xFFFFFFFF, "x\x00", "") + trailerRec, ErrFormat, "namesize 4294967295"},
		{"name not NUL-terminated", rec("070701", 0o100644, 0, 2, "ab", "") + trailerRec, ErrFormat, "not NUL-terminated"},
		{"junk after NUL", rec("070701", 0o100644, 0, 4, "a\x00b\x00", "") + trailerRec, ErrFormat, "after its NUL"},
		{"empty name", rec("070701", 0o100644, 0, 1, "\x00", "") + trailerRec, ErrFormat, "empty name"},
		{"NUL in target", rec("070701", 0o120777, 4, 2, "l\x00", "a\x00b\x00") + trailerRec, ErrFormat, "contains a NUL"},
		{"target too long", rec("070701", 0o120777, 5000, 2, "l\x00", strings.Repeat("a", 5000)) + trailerRec, ErrFormat, "longer than PATH_MAX"},
		{"no trailer", good, io.ErrUnexpectedEOF, "missing TRAILER!!!"},
		{"empty input", "", io.ErrUnexpectedEOF, "offset 0"},
		{"bad checksum", rec("070702", 0o100644, 3, 2, "f\x00", "abc") + trailerRec, ErrChecksum, "f (data at offset 112)"},
		{"checksum on empty file", hdr("070702", 1, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 7) + "f\x00" + trailerRec, ErrChecksum, "f"},
		// The kernel skips such records whole, so the entry would not exist.
		{"directory with data", rec("070701", 0o040755, 3, 2, "d\x00", "abc") + trailerRec, ErrFormat, `"d": a directory record carries 3 bytes of data`},
		{"device with data", rec("070701", 0o020600, 5, 8, "dev/tty\x00", "12345") + trailerRec, ErrFormat, `"dev/tty": a character device record carries 5 bytes`},
		{"fifo with data", rec("070701", 0o010600, 1, 2, "p\x00", "x") + trailerRec, ErrFormat, "fifo record carries 1 bytes"},
		{"unknown type with data", rec("070701", 0o000600, 1, 2, "u\x00", "x") + trailerRec, ErrFormat, "unknown type 0 record carries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.archive))
			var err error
			for err == nil {
				_, err = r.Next()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
			}
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v\nwant %v containing %q", err, tt.wantIs, tt.wantMsg)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("error not sticky: %v", err2)
			}
		})
	}
}

// TestReaderTruncated cuts an archive at every byte before the end of its
// trailer: each cut must be reported as an unexpected EOF, never as a
// clean end or a panic.
func TestReaderTruncated(t *testing.T) {
	b := writeArchive(t, []entry{
		{h: Header{Name: "d", Mode: TypeDir | 0o755}},
		{h: Header{Name: "f", Mode: TypeReg | 0o644}, data: []byte("hello")},
		{h: Header{Name: "l", Mode: TypeSymlink | 0o777, Linkname: "f"}},
	}, WithChecksum(true))
	end := bytes.Index(b, []byte(Trailer)) + len(Trailer) + 1
	for n := 0; n < end; n++ {
		r := NewReader(bytes.NewReader(b[:n]))
		var err error
		for err == nil {
			_, err = r.Next()
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v", n, err)
		}
	}
}

// TestReaderGNUCpio reads archives written by GNU cpio from a real tree,
// in newc and crc formats: symlink data without the NUL, hard links with
// the data on the last name, real device numbers.
func TestReaderGNUCpio(t *testing.T) {
	cpio := lookTool(t, "cpio")
	root := t.TempDir()
	must(t, os.Mkdir(filepath.Join(root, "d"), 0o750))
	must(t, os.WriteFile(filepath.Join(root, "d/f"), []byte("some data\n"), 0o640))
	must(t, os.Link(filepath.Join(root, "d/f"), filepath.Join(root, "d/g")))
	must(t, os.Symlink("d/f", filepath.Join(root, "s")))
	must(t, unix.Mkfifo(filepath.Join(root, "p"), 0o600))
	asRoot := os.Geteuid() == 0
	if asRoot {
		must(t, unix.Mknod(filepath.Join(root, "c"), unix.S_IFCHR|0o600, int(unix.Mkdev(4, 300))))
	} else {
		t.Log("not root: no device node in the GNU cpio archive")
	}
	for _, format := range []string{"newc", "crc"} {
		t.Run(format, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", "find . | LC_ALL=C sort | "+cpio+" -o --quiet -H "+format)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("cpio -o: %v", err)
			}
			r := NewReader(bytes.NewReader(out))
			got := map[string]*Header{}
			data := map[string]string{}
			for {
				h, err := r.Next()
				if err == io.EOF {
					break
				}
				must(t, err)
				b, err := io.ReadAll(r)
				must(t, err)
				got[h.Name], data[h.Name] = h, string(b)
			}
			if s := got["s"]; s == nil || s.Linkname != "d/f" || s.Type() != TypeSymlink {
				t.Errorf("symlink: %+v", s)
			}
			f, g := got["d/f"], got["d/g"]
			if f == nil || g == nil || f.LinkKey == "" || f.LinkKey != g.LinkKey || f.NLink != 2 {
				t.Fatalf("hard links: %+v %+v", f, g)
			}
			if data["d/f"]+data["d/g"] != "some data\n" {
				t.Errorf("hard link data %q + %q", data["d/f"], data["d/g"])
			}
			if d := got["d"]; d == nil || d.Mode != TypeDir|0o750 || d.LinkKey != "" {
				t.Errorf("dir: %+v", d)
			}
			if p := got["p"]; p == nil || p.Mode != TypeFIFO|0o600 {
				t.Errorf("fifo: %+v", p)
			}
			if c := got["c"]; asRoot && (c == nil || c.Type() != TypeChar || c.RDevMajor != 4 || c.RDevMinor != 300) {
				t.Errorf("char device: %+v", c)
			}
		})
	}
}

// lookTool finds a tool the project's Makefile installs; its absence is a
// broken test machine, not a reason to skip.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (apt-get install cpio libarchive-tools): %v", name, err)
	}
	return p
}
