package compressors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExternalGzip(t *testing.T) {
	data := mixedData(1<<20, 5)
	c := lookup(t, "cmd:gzip -n -9", 0)
	if c.Name() != "cmd:gzip -n -9" || c.Ext() != ".gz" || !bytes.Equal(c.Magic(), []byte{0x1f, 0x8b}) {
		t.Errorf("Name, Ext, Magic = %q, %q, % x", c.Name(), c.Ext(), c.Magic())
	}
	out := compress(t, c, data)
	if Detect(out) != "gzip" {
		t.Errorf("Detect = %q, want gzip", Detect(out))
	}
	checkEqual(t, "gzip -dc", mustTool(t, out, "gzip", "-dc"), data)
	got, err := decode("gzip", out)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "NewReader", got, data)
	if again := compress(t, c, data); !bytes.Equal(out, again) {
		t.Error("gzip -n output differs between runs")
	}
}

// TestExternalToFile: with an *os.File destination the program writes to
// it directly; the file stays open for the caller.
func TestExternalToFile(t *testing.T) {
	data := mixedData(256<<10, 6)
	f, err := os.Create(filepath.Join(t.TempDir(), "out.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("prefix")); err != nil {
		t.Fatal(err)
	}
	c, err := External([]string{"zstd", "-q", "-3", "-c"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	// Several writes, larger than a pipe buffer in total.
	for chunk := range slices.Chunk(data, 10000) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("suffix")); err != nil {
		t.Fatalf("destination unusable after Close: %v", err)
	}
	all, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(all, []byte("prefix")) || !bytes.HasSuffix(all, []byte("suffix")) {
		t.Fatalf("file does not hold prefix + stream + suffix")
	}
	stream := all[len("prefix") : len(all)-len("suffix")]
	checkEqual(t, "zstd -dc", mustTool(t, stream, "zstd", "-q", "-dc"), data)
}

// TestExternalFailure: a failing program is an error from Close (or from
// Write, if it exits while being fed) that names the command, its exit
// status and the last line it printed on stderr.
func TestExternalFailure(t *testing.T) {
	tests := []struct {
		name  string
		input int
		want  []string
	}{
		{"cmd:false", 0, []string{`compressor "false": exit status 1`}},
		{`cmd:sh -c 'exit 3'`, 0, []string{`compressor "sh -c 'exit 3'": exit status 3`}},
		{`cmd:sh -c 'echo first >&2; echo "disk full" >&2; exit 4'`, 0,
			[]string{"exit status 4: disk full"}},
		// Exits without reading 4 MiB of input: the write fails and the
		// error still gives the status, not only "broken pipe".
		{`cmd:sh -c 'echo gave up >&2; exit 5'`, 4 << 20, []string{"exit status 5: gave up"}},
		{`cmd:sh -c 'kill -9 $$'`, 0, []string{"signal: killed"}},
	}
	for _, tt := range tests {
		c := lookup(t, tt.name, 0)
		w, err := c.NewWriter(io.Discard)
		if err != nil {
			t.Fatalf("%s: NewWriter: %v", tt.name, err)
		}
		_, werr := w.Write(make([]byte, tt.input))
		cerr := w.Close()
		if cerr == nil {
			t.Errorf("%s: Close succeeded", tt.name)
			continue
		}
		if werr != nil && werr.Error() != cerr.Error() {
			t.Errorf("%s: Write error %q differs from Close error %q", tt.name, werr, cerr)
		}
		for _, s := range tt.want {
			if !strings.Contains(cerr.Error(), s) {
				t.Errorf("%s: error %q lacks %q", tt.name, cerr, s)
			}
		}
		if again := w.Close(); again == nil || again.Error() != cerr.Error() {
			t.Errorf("%s: second Close = %v, want the same error", tt.name, again)
		}
	}
}

func TestExternalNotFound(t *testing.T) {
	for _, argv := range [][]string{{"/nonexistent/tool"}, {"no-such-compressor-xyz", "-9"}, {}, {""}} {
		c, err := External(argv)
		if err == nil {
			t.Errorf("External(%q) = %v, want an error", argv, c.Name())
			continue
		}
		if len(argv) > 0 && argv[0] != "" && !strings.Contains(err.Error(), argv[0]) {
			t.Errorf("External(%q): error %q does not name the program", argv, err)
		}
	}
}

// TestExternalNotStartable: a program that exists but cannot be executed
// is reported by NewWriter.
func TestExternalNotStartable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tool")
	// Executable bit set, but not a valid executable format and no shebang.
	if err := os.WriteFile(p, []byte{0x7f, 'E', 'L', 'F', 0}, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := External([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.NewWriter(io.Discard)
	if err == nil {
		w.Close()
		t.Fatal("NewWriter succeeded for a non-executable file")
	}
	if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("error %q should name %s and say it cannot start", err, p)
	}
}

func TestKnownOutput(t *testing.T) {
	legacy := []byte{0x02, 0x21, 0x4c, 0x18}
	tests := []struct {
		argv  []string
		ext   string
		magic []byte
	}{
		{[]string{"zstd", "-19", "-T0"}, ".zst", []byte{0x28, 0xb5, 0x2f, 0xfd}},
		{[]string{"/usr/bin/gzip", "-n"}, ".gz", []byte{0x1f, 0x8b}},
		{[]string{"pigz", "-9"}, ".gz", []byte{0x1f, 0x8b}},
		{[]string{"xz", "--check=crc32"}, ".xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
		{[]string{"xz", "-F", "lzma"}, ".lzma", []byte{0x5d, 0, 0}},
		{[]string{"xz", "--format=lzma"}, ".lzma", []byte{0x5d, 0, 0}},
		{[]string{"xz", "-Fraw"}, "", nil},
		{[]string{"lzma", "-9"}, ".lzma", []byte{0x5d, 0, 0}},
		{[]string{"lz4", "-l"}, ".lz4", legacy},
		{[]string{"lz4", "-9l"}, ".lz4", legacy},
		{[]string{"lz4", "-9"}, ".lz4", []byte{0x04, 0x22, 0x4d, 0x18}},
		{[]string{"lz4", "--", "-l"}, ".lz4", []byte{0x04, 0x22, 0x4d, 0x18}},
		{[]string{"bzip2"}, ".bz2", []byte("BZh")},
		{[]string{"lzop"}, ".lzo", []byte{0x89, 'L', 'Z', 'O'}},
		{[]string{"cat"}, "", nil},
	}
	for _, tt := range tests {
		ext, magic := knownOutput(tt.argv)
		if ext != tt.ext || !bytes.Equal(magic, tt.magic) {
			t.Errorf("knownOutput(%q) = %q, % x; want %q, % x", tt.argv, ext, magic, tt.ext, tt.magic)
		}
	}
	// Whatever Magic claims for lz4 -l, the tool must produce.
	out := compress(t, lookup(t, "cmd:lz4 -l -c", 0), []byte("data"))
	if !bytes.HasPrefix(out, legacy) {
		t.Errorf("lz4 -l output starts % x", out[:4])
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"zstd -19 -T0", []string{"zstd", "-19", "-T0"}, ""},
		{"  gzip \t -n\n-9  ", []string{"gzip", "-n", "-9"}, ""},
		{`sh -c 'exit 3'`, []string{"sh", "-c", "exit 3"}, ""},
		{`a "b c" d`, []string{"a", "b c", "d"}, ""},
		{`a "x\"y\\z\$\n"`, []string{"a", `x"y\z$\n`}, ""},
		{`'it''s'`, []string{"its"}, ""},
		{`'a\b'`, []string{`a\b`}, ""},
		{`a\ b c\'d \"`, []string{"a b", "c'd", `"`}, ""},
		{`x'y'"z"w`, []string{"xyzw"}, ""},
		{`tool '' ""`, []string{"tool", "", ""}, ""},
		{`"don't"`, []string{"don't"}, ""},
		{`'say "hi"'`, []string{`say "hi"`}, ""},
		{"", nil, "empty command line"},
		{"   ", nil, "empty command line"},
		{`a 'b`, nil, "unterminated single quote at offset 2"},
		{`a "b\"`, nil, "unterminated double quote at offset 2"},
		{`a\`, nil, "ends with a backslash"},
	}
	for _, tt := range tests {
		got, err := splitCommand(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("splitCommand(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestJoinCommand: Name must give back the same words when looked up again.
func TestJoinCommand(t *testing.T) {
	for _, argv := range [][]string{
		{"zstd", "-19"},
		{"sh", "-c", "exit 3"},
		{"printf", "it's a \"test\" \\ $HOME `x`", ""},
		{"tool", "\t\n"},
	} {
		got, err := splitCommand(joinCommand(argv))
		if err != nil || !slices.Equal(got, argv) {
			t.Errorf("splitCommand(joinCommand(%q)) = %q, %v", argv, got, err)
		}
	}
	c, err := External([]string{"sh", "-c", "gzip -n"})
	if err != nil {
		t.Fatal(err)
	}
	again := lookup(t, c.Name(), 0)
	if again.Name() != c.Name() {
		t.Errorf("Lookup(%q).Name() = %q", c.Name(), again.Name())
	}
	out := compress(t, again, []byte("round trip"))
	if got := mustTool(t, out, "gzip", "-dc"); string(got) != "round trip" {
		t.Errorf("got %q", got)
	}
}

// TestExternalOutputChecked: a program that exits 0 must have written a
// stream the kernel unpacks (or a newc archive); nothing, or bytes of no
// known format, is an error.
func TestExternalOutputChecked(t *testing.T) {
	tests := []struct {
		name string
		err  error // nil: accepted
	}{
		{`cmd:sh -c 'cat >/dev/null'`, ErrNoOutput},
		{"cmd:true", ErrNoOutput},
		{`cmd:sh -c 'cat >/dev/null; printf garbage!'`, ErrUnknownOutput},
		{"cmd:lz4 -c", ErrUnknownOutput}, // the frame format, which the kernel does not read
		{"cmd:lz4 -l -c", nil},
		{"cmd:gzip -n", nil},
		{"cmd:cat", nil}, // "070701...": a newc archive, uncompressed
	}
	for _, tt := range tests {
		c := lookup(t, tt.name, 0)
		w, err := c.NewWriter(io.Discard)
		if err != nil {
			t.Fatalf("%s: NewWriter: %v", tt.name, err)
		}
		w.Write([]byte("070701 an archive, as far as the magic goes"))
		err = w.Close()
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("%s: Close = %v, want %v", tt.name, err, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), `compressor "`+strings.TrimPrefix(tt.name, "cmd:")+`"`) {
			t.Errorf("%s: error %q does not name the command", tt.name, err)
		}
	}
}

// TestExternalStoppedByContext: cancelling the context of WithContext
// sends the cause's signal to the program's whole process group, and
// nothing of the group outlives Close.
func TestExternalStoppedByContext(t *testing.T) {
	tests := []struct {
		cause error
		want  string // the shell's trap prints it
	}{
		{Interrupted{syscall.SIGINT}, "INT"},
		{Interrupted{syscall.SIGHUP}, "HUP"},
		{errors.New("other"), "TERM"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		pids, got := filepath.Join(dir, "pids"), filepath.Join(dir, "got")
		script := fmt.Sprintf(`for s in INT HUP TERM; do trap "echo $s > %s; exit 1" $s; done; sleep 300 & echo $! > %s; wait`, got, pids)
		ctx, cancel := context.WithCancelCause(context.Background())
		c := WithContext(lookup(t, "cmd:sh -c '"+script+"'", 0), ctx)
		w, err := c.NewWriter(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		waitFile(t, pids)
		cancel(tt.cause)
		if err := w.Close(); err == nil {
			t.Errorf("%v: Close succeeded", tt.cause)
		}
		if b, _ := os.ReadFile(got); strings.TrimSpace(string(b)) != tt.want {
			t.Errorf("%v: the program got %q, want %s", tt.cause, b, tt.want)
		}
		b, _ := os.ReadFile(pids)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && running(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%v: the program's child %d outlived it", tt.cause, pid)
		}
	}
}

// TestExternalLeftoversKilled: what a program leaves running in its
// process group when it exits is killed.
func TestExternalLeftoversKilled(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	c := lookup(t, fmt.Sprintf(`cmd:sh -c 'sleep 300 >/dev/null 2>&1 & echo $! > %s; gzip -n'`, pids), 0)
	compress(t, c, []byte("data"))
	b, _ := os.ReadFile(pids)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 || running(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the program's child %d outlived it", pid)
	}
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	for range 500 {
		if b, _ := os.ReadFile(p); bytes.HasSuffix(b, []byte("\n")) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never written", p)
}

// running reports whether pid runs, within a second: a zombie has ended,
// and a killed process needs a moment to become one.
func running(pid int) bool {
	for range 100 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
