package compressors

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBuiltinsWithCLI compresses mixed data with every built-in format and
// checks the result with the format's reference tool, which is what the
// kernel's decoders follow.
func TestBuiltinsWithCLI(t *testing.T) {
	data := mixedData(3<<20, 1)
	tests := []struct {
		name  string
		size  int // input bytes; xz is slow, so it gets less
		ext   string
		magic []byte
		check func(t *testing.T, file string, want []byte)
	}{
		{"none", len(data), "", nil, func(t *testing.T, file string, want []byte) {}},
		{"gzip", len(data), ".gz", []byte{0x1f, 0x8b}, func(t *testing.T, file string, want []byte) {
			mustTool(t, nil, "gzip", "-t", file)
			checkEqual(t, "gzip -dc", mustTool(t, nil, "gzip", "-dc", file), want)
		}},
		{"zstd", len(data), ".zst", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(t *testing.T, file string, want []byte) {
			mustTool(t, nil, "zstd", "-q", "-t", file)
			checkEqual(t, "zstd -dc", mustTool(t, nil, "zstd", "-q", "-dc", file), want)
			list := checkZstdWindow(t, file)
			if !bytes.Contains(list, []byte("Check: XXH64")) {
				t.Errorf("no content checksum in zstd -lv:\n%s", list)
			}
		}},
		{"xz", 1 << 20, ".xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, func(t *testing.T, file string, want []byte) {
			mustTool(t, nil, "xz", "-t", file)
			checkEqual(t, "xz -dc", mustTool(t, nil, "xz", "-dc", file), want)
			list := string(mustTool(t, nil, "xz", "-lvv", file))
			for _, s := range []string{"Check:             CRC32", "--lzma2=dict=512KiB"} {
				if !strings.Contains(list, s) {
					t.Errorf("xz -lvv output lacks %q:\n%s", s, list)
				}
			}
		}},
		{"lz4", len(data), ".lz4", []byte{0x02, 0x21, 0x4c, 0x18}, func(t *testing.T, file string, want []byte) {
			checkEqual(t, "lz4 -dc", mustTool(t, nil, "lz4", "-dc", file), want)
			// The default level is documented as byte-identical to lz4 -l.
			cli := mustTool(t, want, "lz4", "-l", "-c")
			compressed, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cli, compressed) {
				t.Errorf("output differs from lz4 -l: %d vs %d bytes", len(compressed), len(cli))
			}
		}},
	}
	if got, want := len(tests), len(Names()); got != want {
		t.Fatalf("test covers %d formats, Names has %d", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := data[:tt.size]
			c := lookup(t, tt.name, 0)
			if c.Name() != tt.name || c.Ext() != tt.ext || !bytes.Equal(c.Magic(), tt.magic) {
				t.Errorf("Name, Ext, Magic = %q, %q, % x; want %q, %q, % x",
					c.Name(), c.Ext(), c.Magic(), tt.name, tt.ext, tt.magic)
			}
			out := compress(t, c, in)
			if !bytes.HasPrefix(out, tt.magic) {
				t.Errorf("output starts % x, want magic % x", out[:8], tt.magic)
			}
			if again := compress(t, c, in); !bytes.Equal(out, again) {
				t.Errorf("two compressions of the same input differ (%d and %d bytes)", len(out), len(again))
			}
			format := Detect(out)
			if tt.name == "none" {
				format = "none"
			} else if format != tt.name {
				t.Errorf("Detect(output) = %q, want %q", format, tt.name)
			}
			got, err := decode(format, out)
			if err != nil {
				t.Fatalf("NewReader(%q): %v", format, err)
			}
			checkEqual(t, "NewReader", got, in)
			tt.check(t, writeTemp(t, "out"+tt.ext, out), in)
			t.Logf("%s: %d -> %d bytes", tt.name, len(in), len(out))
		})
	}
}

func checkEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: got %d bytes, want %d; first difference at offset %d", what, len(got), len(want), i)
	}
}

// TestEmptyInput: an archive stream may be empty (an early cpio with no
// microcode is skipped by callers, but a writer must still produce a valid
// stream).
func TestEmptyInput(t *testing.T) {
	decoders := map[string][]string{
		"gzip": {"gzip", "-dc"}, "zstd": {"zstd", "-q", "-dc"}, "xz": {"xz", "-dc"}, "lz4": {"lz4", "-dc"},
	}
	for _, name := range Names() {
		out := compress(t, lookup(t, name, 0), nil)
		if name == "none" {
			if len(out) != 0 {
				t.Errorf("none: %d bytes from empty input", len(out))
			}
			continue
		}
		d := decoders[name]
		got, err := tool(out, d[0], d[1:]...)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: empty stream (% x) decodes to %d bytes, %v", name, out, len(got), err)
		}
		if got, err := decode(name, out); err != nil || len(got) != 0 {
			t.Errorf("%s: NewReader of empty stream: %d bytes, %v", name, len(got), err)
		}
	}
}

// TestLevels constructs every valid level, checks that the output decodes
// with the reference tool, and that levels outside the range are refused
// with a message that states it.
func TestLevels(t *testing.T) {
	data := mixedData(96<<10, 2)
	tests := []struct {
		name     string
		min, max int
		fastest  int // the level expected to compress least
		decoder  []string
		bad      []int
		wantErr  string
	}{
		{"none", 0, 0, 0, nil, []int{1, -1, 9}, "takes no level"},
		{"gzip", 1, 9, 1, []string{"gzip", "-dc"}, []int{-2, 10, 100}, "out of range 1-9"},
		{"zstd", 1, 22, 1, []string{"zstd", "-q", "-dc"}, []int{-2, 23}, "out of range 1-22"},
		{"xz", 1, 9, 1, []string{"xz", "-dc"}, []int{-3, 10}, "out of range 1-9"},
		{"lz4", 1, 9, 0, []string{"lz4", "-dc"}, []int{-2, 10, 12}, "out of range 1-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sizes := map[int]int{}
			for level := range tt.max + 1 {
				if level != 0 && level < tt.min {
					continue
				}
				c := lookup(t, tt.name, level)
				out := compress(t, c, data)
				sizes[level] = len(out)
				if tt.decoder == nil {
					continue
				}
				got, err := tool(out, tt.decoder[0], tt.decoder[1:]...)
				if err != nil {
					t.Errorf("level %d: %v", level, err)
				} else {
					checkEqual(t, fmt.Sprintf("level %d", level), got, data)
				}
			}
			if tt.max > 1 && sizes[tt.max] >= sizes[tt.fastest] {
				t.Errorf("level %d gives %d bytes, not smaller than level %d's %d",
					tt.max, sizes[tt.max], tt.fastest, sizes[tt.fastest])
			}
			t.Logf("sizes by level: %v", sizes)

			for _, level := range tt.bad {
				_, err := Lookup(tt.name, level)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Lookup(%q, %d) = %v, want error containing %q", tt.name, level, err, tt.wantErr)
				}
			}
		})
	}
}

// TestLevelMax pins what "max" means for each built-in: the measured
// smallest output (see the package documentation).
func TestLevelMax(t *testing.T) {
	for name, want := range map[string]string{"gzip": "gzip -9", "zstd": "zstd -22", "xz": "xz -4", "lz4": "lz4 -9"} {
		if got := lookup(t, name, LevelMax).(*builtin).String(); got != want {
			t.Errorf("%s at LevelMax is %q, want %q", name, got, want)
		}
	}
	if _, err := Lookup("none", LevelMax); err == nil || !strings.Contains(err.Error(), "takes no level") {
		t.Errorf("none at LevelMax: %v, want an error", err)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{"default", 0, false},
		{"0", 0, false},
		{"19", 19, false},
		{"max", LevelMax, false},
		{"MAX", 0, true},
		{"-1", 0, true},
		{"9e", 0, true},
		{"fast", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLevel(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
			t.Errorf("ParseLevel(%q): error %q does not name the input", tt.in, err)
		}
	}
}

// TestXzLevelDictionary pins the documented level to dictionary mapping
// as xz itself reports it.
func TestXzLevelDictionary(t *testing.T) {
	data := mixedData(64<<10, 3)
	for level, dict := range map[int]string{1: "32KiB", 5: "512KiB", 6: "1MiB", 9: "8MiB"} {
		file := writeTemp(t, "x.xz", compress(t, lookup(t, "xz", level), data))
		list := mustTool(t, nil, "xz", "-lvv", file)
		m := regexp.MustCompile(`--lzma2=dict=(\S+)`).FindSubmatch(list)
		if m == nil || string(m[1]) != dict {
			t.Errorf("xz level %d: want --lzma2=dict=%s in xz -lvv:\n%s", level, dict, list)
		}
	}
}

// TestGzipHeader: the gzip header must not leak a file name or the time of
// the build (gzip -n behaviour).
func TestGzipHeader(t *testing.T) {
	out := compress(t, lookup(t, "gzip", 0), []byte("hello\n"))
	if len(out) < 10 {
		t.Fatalf("gzip output only %d bytes", len(out))
	}
	if flg := out[3]; flg != 0 {
		t.Errorf("FLG = %#x, want 0 (no name, comment or extra field)", flg)
	}
	if mtime := out[4:8]; !bytes.Equal(mtime, []byte{0, 0, 0, 0}) {
		t.Errorf("MTIME = % x, want zero", mtime)
	}
	if got := mustTool(t, out, "gzip", "-dc"); string(got) != "hello\n" {
		t.Errorf("gzip -dc = %q", got)
	}
}

// TestLz4LargeMatchesCLI covers several 8 MiB legacy blocks, which the
// writer compresses in parallel: the output must still equal lz4 -l's.
func TestLz4LargeMatchesCLI(t *testing.T) {
	data := mixedData(20<<20, 4)
	out := compress(t, lookup(t, "lz4", 0), data)
	cli := mustTool(t, data, "lz4", "-l", "-c")
	if !bytes.Equal(out, cli) {
		t.Errorf("lz4 output (%d bytes) differs from lz4 -l (%d bytes)", len(out), len(cli))
	}
	got, err := decode("lz4", out)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "NewReader", got, data)
}

// TestCloseLeavesWriter: closing a compressor's writer must finish the
// stream without closing the destination, which the caller owns (and may
// still append segments to).
func TestCloseLeavesWriter(t *testing.T) {
	names := append(Names(), "cmd:gzip -n")
	for _, name := range names {
		dst := &closeRecorder{}
		w, err := lookup(t, name, 0).NewWriter(dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%s: Close: %v", name, err)
		}
		if dst.closed {
			t.Errorf("%s: Close closed the destination", name)
		}
		if dst.Len() == 0 {
			t.Errorf("%s: nothing written", name)
		}
	}
}

func TestLookupErrors(t *testing.T) {
	tests := []struct {
		name    string
		level   int
		wantErr string
	}{
		{"", 0, `unknown compressor ""`},
		{"bzip2", 0, `unknown compressor "bzip2" (known: none, gzip, zstd, xz, lz4, gzip-cli, zstd-cli, xz-cli, or cmd:<command line>)`},
		{"GZIP", 0, "unknown compressor"},
		{"cmd:", 0, "empty command line"},
		{"cmd:gzip -9", 9, "a level does not apply to an external command"},
		{"cmd:gzip 'oops", 0, "unterminated single quote"},
		{"cmd:/nonexistent/tool -9", 0, `compressor "/nonexistent/tool -9": exec: "/nonexistent/tool"`},
	}
	for _, tt := range tests {
		_, err := Lookup(tt.name, tt.level)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Lookup(%q, %d) = %v, want error containing %q", tt.name, tt.level, err, tt.wantErr)
		}
	}
}

func TestNamesAreLookupable(t *testing.T) {
	names := Names()
	names[0] = "changed" // must not affect later calls
	if slices.Contains(Names(), "changed") {
		t.Fatal("Names returns shared state")
	}
	for _, name := range Names() {
		c := lookup(t, name, 0)
		if c.Name() != name {
			t.Errorf("Lookup(%q).Name() = %q", name, c.Name())
		}
		if m := c.Magic(); len(m) > 0 {
			m[0] ^= 0xff
			if bytes.Equal(c.Magic(), m) {
				t.Errorf("%s: Magic returns shared state", name)
			}
		}
	}
}

// TestSegmentsConcatenate: segment-parallel compression writes each piece
// as a complete stream and concatenates them; the reference tools (which
// the kernel's decoders follow here) and NewReader must read the whole.
func TestSegmentsConcatenate(t *testing.T) {
	data := mixedData(600<<10, 11)
	cuts := []int{0, 100 << 10, 101 << 10, 450 << 10, len(data)}
	decoders := map[string][]string{
		"gzip": {"gzip", "-dc"}, "zstd": {"zstd", "-q", "-dc"}, "xz": {"xz", "-dc"},
	}
	for name, d := range decoders {
		c := lookup(t, name, 0)
		var image []byte
		for i := 1; i < len(cuts); i++ {
			image = append(image, compress(t, c, data[cuts[i-1]:cuts[i]])...)
		}
		checkEqual(t, name+" tool", mustTool(t, image, d[0], d[1:]...), data)
		got, err := decode(name, image)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkEqual(t, name+" NewReader", got, data)
	}
}

// TestCopyThroughReadFrom writes with io.Copy, which uses a writer's
// ReadFrom when it has one: each compressor must decode the same.
func TestCopyThroughReadFrom(t *testing.T) {
	input := bytes.Repeat([]byte("initrd data 0123456789\n"), 50000)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			c, err := Lookup(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			w, err := c.NewWriter(&out)
			if err != nil {
				t.Fatal(err)
			}
			// A LimitReader has no WriteTo, so io.Copy calls ReadFrom.
			if _, err := io.Copy(w, io.LimitReader(bytes.NewReader(input), int64(len(input)))); err != nil {
				t.Fatalf("io.Copy: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(name, &out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, input) {
				t.Errorf("round trip through io.Copy: err %v, %d bytes, want %d", err, len(got), len(input))
			}
		})
	}
}

// countingWriter counts the writes that reach it.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

// TestNoneBuffers: "none" gathers an archive's many small writes (headers,
// padding) into few, and Close writes out the rest.
func TestNoneBuffers(t *testing.T) {
	c, err := Lookup("none", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out countingWriter
	w, err := c.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 10000 {
		piece := []byte(fmt.Sprintf("070701%08X", i))
		w.Write(piece)
		want.Write(piece)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("output differs from input (%d bytes, want %d)", out.Len(), want.Len())
	}
	if max := want.Len()/noneBufferSize + 1; out.writes > max {
		t.Errorf("%d writes for %d bytes in 10,000 pieces, want at most %d", out.writes, want.Len(), max)
	}
}
