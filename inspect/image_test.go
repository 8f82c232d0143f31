package inspect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestEveryFormatFollowedByAnother puts each compressed format in front
// of other segments: its decoder must stop exactly at the end of its
// stream and leave the rest for the next segment.
func TestEveryFormatFollowedByAnother(t *testing.T) {
	first := archive(t, true, file{name: "first", data: strings.Repeat("one ", 5000)})
	cpioSeg := archive(t, true, file{name: "early", data: "microcode"})
	last := archive(t, true, file{name: "last", data: "bye"})
	for _, format := range []string{"gzip", "zstd", "xz", "lzma", "bzip2"} {
		for _, pad := range []int{0, 1, 4, 512} {
			t.Run(fmt.Sprintf("%s-pad%d", format, pad), func(t *testing.T) {
				seg := compress(t, format, first)
				img := cat(seg, zeros(pad), cpioSeg, compress(t, "gzip", last), zeros(pad))
				got, err := Read(bytes.NewReader(img))
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"/first", "/early", "/last"}; !reflect.DeepEqual(paths(got.Entries), want) {
					t.Fatalf("entries %v, want %v", paths(got.Entries), want)
				}
				if want := []string{format, "cpio", "gzip"}; !reflect.DeepEqual(got.Formats(), want) {
					t.Fatalf("formats %v, want %v", got.Formats(), want)
				}
				s := got.Segments
				if s[0].Offset != 0 || s[0].Size != int64(len(seg)) {
					t.Errorf("segment 0 at %d, %d bytes; want 0, %d", s[0].Offset, s[0].Size, len(seg))
				}
				// The size leaves out the trailer's 512-byte padding.
				if s[1].Offset != int64(len(seg)+pad) || s[1].Size > int64(len(cpioSeg)) || int64(len(cpioSeg))-s[1].Size >= 512 {
					t.Errorf("segment 1 at %d, %d bytes; want %d, up to %d", s[1].Offset, s[1].Size, len(seg)+pad, len(cpioSeg))
				}
				if s[0].Uncompressed != int64(len(first)) {
					t.Errorf("segment 0: %d bytes uncompressed, want %d", s[0].Uncompressed, len(first))
				}
				if got.Size != int64(len(img)) {
					t.Errorf("image size %d, want %d", got.Size, len(img))
				}
				if e := got.Entries[0]; e.SHA256 != sha(strings.Repeat("one ", 5000)) || e.Size != 20000 || e.Segment != 0 {
					t.Errorf("first entry %+v", e)
				}
				if e := got.Entries[2]; e.SHA256 != sha("bye") || e.Segment != 2 {
					t.Errorf("last entry %+v", e)
				}
			})
		}
	}
}

// TestSegmentParallel reads images made the way a parallel compressor
// makes them: several streams of one format, cut between entries, only
// the last with a trailer. They form one segment.
func TestSegmentParallel(t *testing.T) {
	a := archive(t, false, file{name: "a", data: "aaaa"}, file{name: "dir", typ: cpiogen.TypeDir, mode: 0o755})
	b := archive(t, false, file{name: "dir/b", data: strings.Repeat("b", 1000)})
	c := archive(t, true, file{name: "dir/c", link: "b"})
	for _, format := range []string{"gzip", "zstd", "xz", "lzma", "bzip2"} {
		t.Run(format, func(t *testing.T) {
			img := cat(compress(t, format, a), compress(t, format, b), zeros(3), compress(t, format, c))
			got, err := Read(bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Segments) != 1 {
				t.Fatalf("%d segments, want 1: %+v", len(got.Segments), got.Segments)
			}
			s := got.Segments[0]
			wantStreams := 3
			if format == "bzip2" {
				wantStreams = 1 // compress/bzip2 joins streams silently
			}
			if s.Streams != wantStreams || s.Entries != 4 || s.Trailers != 1 || s.Size != int64(len(img)) {
				t.Errorf("segment %+v, want %d streams, 4 entries, 1 trailer, %d bytes", s, wantStreams, len(img))
			}
			if want := []string{"/a", "/dir", "/dir/b", "/dir/c"}; !reflect.DeepEqual(paths(got.Entries), want) {
				t.Errorf("entries %v, want %v", paths(got.Entries), want)
			}
		})
	}
}

// TestLz4Last: lz4 must be the image's last segment; the kernel stops
// at anything after it, and so do we.
func TestLz4Last(t *testing.T) {
	early := archive(t, true, file{name: "early", data: "x"})
	main := archive(t, true, file{name: "main", data: strings.Repeat("m", 3000)})
	img := cat(early, compress(t, "lz4", main))
	got, err := Read(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cpio", "lz4"}; !reflect.DeepEqual(got.Formats(), want) {
		t.Fatalf("formats %v, want %v", got.Formats(), want)
	}
	if e := got.Entries[1]; e.Path != "/main" || e.SHA256 != sha(strings.Repeat("m", 3000)) {
		t.Errorf("entry %+v", e)
	}
	if _, err := Read(bytes.NewReader(cat(img, compress(t, "gzip", early)))); err == nil {
		t.Error("a segment after lz4 was accepted")
	}
}

// TestEntryFields checks what a listing says about each type of entry,
// and that hard links share their content whichever name carries it.
func TestEntryFields(t *testing.T) {
	data := archive(t, true,
		file{name: ".", typ: cpiogen.TypeDir, mode: 0o755},
		file{name: "usr/bin/su", data: "su", mode: 0o4755},
		file{name: "tmp", typ: cpiogen.TypeDir, mode: 0o1777},
		file{name: "bin", link: "usr/bin"},
		file{name: "fifo", typ: cpiogen.TypeFIFO, mode: 0o600},
		file{name: "sock", typ: cpiogen.TypeSocket, mode: 0o600},
		// gen_init_cpio style: data on the last name.
		file{name: "h1", linkKey: "g", nlink: 2},
		file{name: "h2", data: "shared", linkKey: "g", nlink: 2},
		// GNU cpio -o style would be the same; data on the first name:
		file{name: "k1", data: "first", linkKey: "k", nlink: 2},
		file{name: "k2", linkKey: "k", nlink: 2},
	)
	var dev bytes.Buffer
	w := cpiogen.NewWriter(&dev)
	if err := w.WriteHeader(&cpiogen.Header{Name: "dev/nvme0n1", Mode: cpiogen.TypeBlock | 0o660, GID: 6, RDevMajor: 259, RDevMinor: 300}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	img, err := Read(bytes.NewReader(cat(data, dev.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range img.Entries {
		got[e.Path] = e
	}
	for _, tc := range []struct {
		path, modeString string
		size             int64
		link, hardlink   string
		content          string
	}{
		{"/", "drwxr-xr-x", 0, "", "", ""},
		{"/usr/bin/su", "-rwsr-xr-x", 2, "", "", "su"},
		{"/tmp", "drwxrwxrwt", 0, "", "", ""},
		{"/bin", "lrwxrwxrwx", 7, "usr/bin", "", ""},
		{"/fifo", "prw-------", 0, "", "", ""},
		{"/sock", "srw-------", 0, "", "", ""},
		{"/h1", "-rw-r--r--", 6, "", "/h1", "shared"},
		{"/h2", "-rw-r--r--", 6, "", "/h1", "shared"},
		{"/k1", "-rw-r--r--", 5, "", "/k1", "first"},
		{"/k2", "-rw-r--r--", 5, "", "/k1", "first"},
		{"/dev/nvme0n1", "brw-rw----", 0, "", "", ""},
	} {
		e, ok := got[tc.path]
		if !ok {
			t.Errorf("%s missing", tc.path)
			continue
		}
		if e.ModeString() != tc.modeString || e.Size != tc.size || e.Link != tc.link || e.HardLink != tc.hardlink {
			t.Errorf("%s: %s size %d link %q hardlink %q; want %s %d %q %q",
				tc.path, e.ModeString(), e.Size, e.Link, e.HardLink, tc.modeString, tc.size, tc.link, tc.hardlink)
		}
		if tc.content != "" && e.SHA256 != sha(tc.content) {
			t.Errorf("%s: hash %s, want that of %q", tc.path, e.SHA256, tc.content)
		}
	}
	if e := got["/dev/nvme0n1"]; e.Major != 259 || e.Minor != 300 || e.GID != 6 {
		t.Errorf("device %+v", e)
	}
	// Uncompressed archives one after another are one segment.
	if len(img.Segments) != 1 || img.Segments[0].Trailers != 2 || img.Segments[0].Entries != 11 {
		t.Errorf("segments %+v, want one with 2 trailers and 11 entries", img.Segments)
	}
	// Each content counted once.
	var stored int64
	for _, e := range img.Entries {
		stored += e.DataSize
	}
	if want := int64(len("su") + len("shared") + len("first")); stored != want {
		t.Errorf("data sizes add up to %d, want %d", stored, want)
	}
}

// TestFinal: a later record replaces an earlier one of the same path.
func TestFinal(t *testing.T) {
	img, err := Read(bytes.NewReader(cat(
		archive(t, true, file{name: "a", data: "old"}, file{name: "b", data: "b"}),
		compress(t, "gzip", archive(t, true, file{name: "a", data: "new"})))))
	if err != nil {
		t.Fatal(err)
	}
	final := img.Final()
	if want := []string{"/a", "/b"}; !reflect.DeepEqual(paths(final), want) {
		t.Fatalf("final %v, want %v", paths(final), want)
	}
	if final[0].SHA256 != sha("new") || final[0].Segment != 1 {
		t.Errorf("final /a = %+v, want the second segment's", final[0])
	}
	if len(img.Entries) != 3 {
		t.Errorf("%d records, want 3", len(img.Entries))
	}
}

func TestReadErrors(t *testing.T) {
	good := archive(t, true, file{name: "a", data: strings.Repeat("data", 100)})
	gz := compress(t, "gzip", good)
	checksummed := func() []byte {
		var buf bytes.Buffer
		w := cpiogen.NewWriter(&buf, cpiogen.WithChecksum(true))
		w.WriteHeader(&cpiogen.Header{Name: "f", Mode: cpiogen.TypeReg | 0o644, Size: 3, Check: 1})
		w.Write([]byte{0, 0, 1})
		w.Close()
		b := buf.Bytes()
		b[bytes.Index(b, []byte{0, 0, 1})+2] = 2 // the data no longer sums to 1
		return b
	}()
	for _, tc := range []struct {
		name string
		img  []byte
		want string
	}{
		{"unknown magic", []byte("hello world"), "offset 0: no cpio or compressed data"},
		{"junk after cpio", cat(good, []byte("junk")), fmt.Sprintf("offset %d: no cpio or compressed data", len(good))},
		{"truncated gzip", gz[:len(gz)-10], "gzip stream 1"},
		{"truncated cpio", good[:200], "unexpected EOF"},
		{"junk inside gzip", compress(t, "gzip", cat(good, []byte("junk"))), "junk after the last record"},
		{"odc", compress(t, "gzip", tool(t, []byte("x\n"), "sh", "-c", "cd \"$(mktemp -d)\" && cat > x && echo x | cpio -o -H odc --quiet")), "odc"},
		{"checksum", checksummed, "checksum mismatch"},
		{"lzo", []byte("\x89LZO\x00\r\n\x1a\n"), "lzo"},
		// A 13-byte header asking for a 128 MiB dictionary, which the
		// decoder would allocate before reading any data.
		{"lzma dictionary", []byte("\x5d\x00\x00\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00"), "dictionary size 134217728 exceeds"},
		{"corrupt zstd", func() []byte {
			z := compress(t, "zstd", good)
			z[len(z)/2] ^= 0xff
			return z
		}(), "zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.img))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestReadSmallReads reads through a reader that returns one byte at a
// time, which must not change what is read.
func TestReadSmallReads(t *testing.T) {
	img := cat(archive(t, true, file{name: "a", data: "1"}), compress(t, "xz", archive(t, true, file{name: "b", data: "2"})),
		compress(t, "zstd", archive(t, true, file{name: "c", data: "3"})))
	want, err := Read(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(iotest.OneByteReader(bytes.NewReader(img)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("one byte at a time:\n%+v\nwant\n%+v", got, want)
	}
	if _, err := Read(iotest.ErrReader(errors.New("disk on fire"))); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	img, err := Read(bytes.NewReader(archive(t, true, file{name: "s", data: "x", mode: 0o4711}, file{name: "l", link: "s"})))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"mode":"4711"`)) {
		t.Errorf("mode not written as octal: %s", b)
	}
	var back Image
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, img) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, *img)
	}
	var p Perm
	for _, bad := range []string{`"999"`, `"17777"`, `493`} {
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("mode %s accepted", bad)
		}
	}
}

func TestSourceUnread(t *testing.T) {
	s := newSource(iotest.HalfReader(strings.NewReader(strings.Repeat("0123456789", 20000))))
	buf := make([]byte, 70000)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	if err := s.unread(3); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Peek(4)
	if string(b) != "7890" || s.off != 69997 {
		t.Errorf("after unread: peek %q at %d, want \"7890\" at 69997", b, s.off)
	}
	rest, err := io.ReadAll(s)
	if err != nil || len(rest) != 200000-69997 {
		t.Errorf("rest: %d bytes, %v", len(rest), err)
	}
	// After a refill the source keeps histLen bytes, and no more is
	// promised.
	s = newSource(strings.NewReader("abc"))
	s.ReadByte()
	if err := s.unread(2); err == nil {
		t.Error("gave back more bytes than were read")
	}
}
