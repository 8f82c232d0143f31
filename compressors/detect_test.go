package compressors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		header []byte
		want   string
	}{
		{[]byte{0x1f, 0x8b, 0x08, 0}, "gzip"},
		{[]byte("BZh91AY&SY"), "bzip2"},
		{[]byte{0x5d, 0, 0, 0x80, 0}, "lzma"},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 1}, "xz"},
		{[]byte{0x89, 'L', 'Z', 'O', 0, 0x0d}, "lzo"},
		{[]byte{0x02, 0x21, 0x4c, 0x18, 0xff}, "lz4"},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0x24}, "zstd"},
		{[]byte("070701000002d1"), "cpio"},
		{[]byte("070702"), "cpio"},
		{[]byte("070707"), "cpio"},
		{[]byte{0x04, 0x22, 0x4d, 0x18}, ""},   // lz4 frame format: not for the kernel
		{[]byte{0xfd, '7', 'z', 'X', 'Z'}, ""}, // too short to tell
		{[]byte{0x1f}, ""},
		{[]byte{0x5d, 0, 1}, ""},
		{[]byte("BZ0"), ""},
		{nil, ""},
		{make([]byte, 16), ""},
		{[]byte("\x7fELF"), ""},
	}
	for _, tt := range tests {
		if got := Detect(tt.header); got != tt.want {
			t.Errorf("Detect(% x) = %q, want %q", tt.header, got, tt.want)
		}
		if len(tt.header) >= DetectLen && Detect(tt.header[:DetectLen]) != tt.want {
			t.Errorf("Detect(% x) needs more than DetectLen bytes", tt.header)
		}
	}
}

// TestDecodeForeign decodes streams made by the reference tools, including
// the concatenations a kernel accepts from segment-parallel writers.
func TestDecodeForeign(t *testing.T) {
	a := mixedData(200<<10, 7)
	b := mixedData(300<<10, 8)
	same := bytes.Repeat([]byte{'z'}, 1<<18) // zstd encodes it with RLE blocks
	ab := concat(a, b)
	gz := func(d []byte) []byte { return mustTool(t, d, "gzip", "-c", "-n") }
	zs := func(d []byte, args ...string) []byte {
		return mustTool(t, d, "zstd", append([]string{"-q", "-c"}, args...)...)
	}
	xzc := func(d []byte) []byte { return mustTool(t, d, "xz", "-c", "--check=crc32") }
	xzx86 := func(d []byte) []byte {
		return mustTool(t, d, "xz", "-c", "--check=crc32", "--x86", "--lzma2=preset=1,dict=2MiB")
	}
	ours := func(name string, d []byte) []byte { return compress(t, lookup(t, name, 0), d) }
	zeros := func(n int) []byte { return make([]byte, n) }
	// A skippable zstd frame (RFC 8878 section 3.1.2) with 5 bytes of data.
	skippable := binary.LittleEndian.AppendUint32(nil, 0x184D2A53)
	skippable = binary.LittleEndian.AppendUint32(skippable, 5)
	skippable = append(skippable, "hello"...)
	// zstd on a file records the content size in the frame header, and for
	// small files sets Single_Segment.
	zstdFile := func(d []byte, args ...string) []byte {
		return mustTool(t, nil, "zstd", append([]string{"-q", "-c", writeTemp(t, "in", d)}, args...)...)
	}

	tests := []struct {
		name   string
		format string
		stream []byte
		want   []byte
	}{
		{"bzip2", "bzip2", mustTool(t, a, "bzip2", "-c"), a},
		{"bzip2 concatenated", "bzip2", concat(mustTool(t, a, "bzip2", "-c"), mustTool(t, b, "bzip2", "-c")), ab},
		{"lzma", "lzma", mustTool(t, a, "xz", "--format=lzma", "-c"), a},
		{"lzma tool", "lzma", mustTool(t, b, "lzma", "-c"), b},
		{"gzip members", "gzip", concat(gz(a), gz(b)), ab},
		{"gzip ours then tool", "gzip", concat(ours("gzip", a), gz(b)), ab},
		{"gzip zero padding", "gzip", concat(gz(a), zeros(3), gz(b), zeros(9)), ab},
		{"gzip empty member", "gzip", concat(gz(nil), gz(a)), a},
		{"zstd frames", "zstd", concat(zs(a), zs(b)), ab},
		{"zstd ours then tool", "zstd", concat(ours("zstd", a), zs(b, "-19")), ab},
		{"zstd zero padding", "zstd", concat(zs(a), zeros(5), zs(b), zeros(4)), ab},
		{"zstd content size and checksum off", "zstd", concat(zstdFile(a, "--no-check"), zstdFile(nil), zstdFile([]byte("x"))), concat(a, []byte("x"))},
		{"zstd RLE blocks", "zstd", concat(zs(same), zstdFile(same)), concat(same, same)},
		{"zstd skippable frame", "zstd", concat(skippable, zs(a), skippable, zs(b)), ab},
		{"zstd window 16 MiB", "zstd", zs(b, "--long=24"), b},
		{"xz streams", "xz", concat(xzc(a), xzc(b)), ab},
		{"xz ours then tool with padding", "xz", concat(ours("xz", a), zeros(8), xzc(b), zeros(4)), ab},
		{"xz x86 streams", "xz", concat(xzx86(a), xzx86(b)), ab},
		{"xz plain then x86 with padding", "xz", concat(ours("xz", a), zeros(8), xzx86(b), zeros(4)), ab},
		{"lz4 legacy streams", "lz4", concat(ours("lz4", a), mustTool(t, b, "lz4", "-l", "-c")), ab},
		{"lz4 frame format", "lz4", mustTool(t, a, "lz4", "-c"), a},
		{"cpio passes through", "cpio", []byte("070701..."), []byte("070701...")},
		{"none passes through", "none", a, a},
	}
	for _, tt := range tests {
		if d := Detect(tt.stream); tt.format != "none" && tt.name != "lz4 frame format" &&
			!strings.HasPrefix(tt.name, "zstd skippable") && d != tt.format {
			t.Errorf("%s: Detect = %q, want %q", tt.name, d, tt.format)
		}
		got, err := decode(tt.format, tt.stream)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%s: decoded %d bytes, want %d (equal prefix: %v)", tt.name, len(got), len(tt.want),
				bytes.HasPrefix(tt.want, got))
		}
	}
}

// TestDecodeErrors: damaged input must be an error, never a silent short
// read that would make an archive look complete.
func TestDecodeErrors(t *testing.T) {
	a := mixedData(100<<10, 9)
	gz := compress(t, lookup(t, "gzip", 0), a)
	zs := compress(t, lookup(t, "zstd", 0), a)
	xzs := compress(t, lookup(t, "xz", 0), a)
	tests := []struct {
		name    string
		format  string
		stream  []byte
		wantErr string
	}{
		{"gzip truncated", "gzip", gz[:len(gz)/2], "gzip member 1"},
		{"gzip garbage after member", "gzip", concat(gz, []byte("junk")), "gzip member 2"},
		{"gzip not gzip", "gzip", []byte("hello world"), "gzip"},
		{"zstd truncated in a block", "zstd", zs[:len(zs)/2], "unexpected EOF"},
		{"zstd truncated in a header", "zstd", zs[:6], "truncated frame"},
		{"zstd missing checksum", "zstd", zs[:len(zs)-2], "truncated frame"},
		{"zstd garbage after frame", "zstd", concat(zs, []byte("junk")), "expected a frame, found bytes 6a 75 6e 6b"},
		{"zstd corrupt", "zstd", corrupt(zs), ""},
		{"xz truncated", "xz", xzs[:len(xzs)-3], ""},
		{"xz garbage after stream", "xz", concat(xzs, []byte("junk")), ""},
		{"unknown format", "zip", a, `unknown compression format "zip"`},
	}
	for _, tt := range tests {
		_, err := decode(tt.format, tt.stream)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
	_, err := NewReader("lzo", bytes.NewReader([]byte{0x89, 'L', 'Z', 'O'}))
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "lzo") {
		t.Errorf("lzo: err = %v, want errors.ErrUnsupported naming lzo", err)
	}
}

// corrupt flips a byte in the middle of a stream.
func corrupt(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/2] ^= 0x55
	return c
}

// TestFormatsTable: Detect reads DetectLen bytes, enough for every magic,
// and no magic is a prefix of another, so the table's order does not
// matter to it; the names the command line lists are derived from it.
func TestFormatsTable(t *testing.T) {
	for _, f := range formats {
		if len(f.magic) == 0 || len(f.magic) > DetectLen {
			t.Errorf("%s: magic of %d bytes, want 1 to DetectLen (%d)", f.name, len(f.magic), DetectLen)
		}
		for _, g := range formats {
			if f.name != g.name && strings.HasPrefix(g.magic, f.magic) {
				t.Errorf("the magic of %s starts that of %s", f.name, g.name)
			}
		}
		if Detect([]byte(f.magic)) != f.name {
			t.Errorf("Detect(%q) = %q, want %q", f.magic, Detect([]byte(f.magic)), f.name)
		}
		if f.concat && f.last {
			t.Errorf("%s: both concatenated and last", f.name)
		}
	}
	if got := strings.Join(append(Names(), CLINames()...), ", "); got != "none, gzip, zstd, xz, lz4, gzip-cli, zstd-cli, xz-cli" {
		t.Errorf("Names, CLINames = %s", got)
	}
}
