package compressors

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// mixedData returns size bytes resembling an initramfs: text (unit files,
// scripts, configuration), structured binary with repeats (ELF code and
// tables), runs of zeros, and incompressible stretches (compressed modules,
// firmware). The seed makes it reproducible.
func mixedData(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x6d6b696e))
	words := []string{"ExecStart=", "/usr/lib/systemd/", "Description=", "After=", "Wants=",
		"initrd", "root", "sysroot", "mount", "udev", "module", "firmware", "kernel",
		"libc.so.6", "[Unit]", "[Service]", "Type=oneshot", "device", "target", "\n"}
	out := make([]byte, 0, size+4096)
	for len(out) < size {
		n := 512 + rng.IntN(64<<10)
		switch rng.IntN(4) {
		case 0: // text
			for end := len(out) + n; len(out) < end; {
				out = append(out, words[rng.IntN(len(words))]...)
				out = append(out, ' ')
			}
		case 1: // structured binary: a record repeated with small changes
			rec := make([]byte, 16+rng.IntN(48))
			for i := range rec {
				rec[i] = byte(rng.IntN(256))
			}
			for end := len(out) + n; len(out) < end; {
				rec[rng.IntN(len(rec))] = byte(rng.IntN(256))
				out = append(out, rec...)
			}
		case 2: // zeros (padding, bss-like)
			out = append(out, make([]byte, n/4)...)
		case 3: // random
			for range n {
				out = append(out, byte(rng.Uint32()))
			}
		}
	}
	return out[:size]
}

// tool runs a command with stdin and returns its stdout; a failure is an
// error that carries the command's stderr. Missing tools are failures: the
// Makefile installs every tool the tests use.
func tool(stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %q: %w: %s", name, args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// mustTool is tool for arguments that must succeed.
func mustTool(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := tool(stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compress runs data through c's writer.
func compress(t testing.TB, c Compressor, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := c.NewWriter(&buf)
	if err != nil {
		t.Fatalf("%s: NewWriter: %v", c.Name(), err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("%s: Write: %v", c.Name(), err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: Close: %v", c.Name(), err)
	}
	return buf.Bytes()
}

// decode reads a whole stream of format with NewReader.
func decode(format string, data []byte) ([]byte, error) {
	r, err := NewReader(format, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return out, err
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lookup(t testing.TB, name string, level int) Compressor {
	t.Helper()
	c, err := Lookup(name, level)
	if err != nil {
		t.Fatalf("Lookup(%q, %d): %v", name, level, err)
	}
	return c
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// closeRecorder is a writer that notes whether Close was called on it.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// checkZstdWindow fails t unless zstd -lv reports a window of at most
// 8 MiB for the zstd file, the most the kernel is known to decode. It
// returns the listing.
func checkZstdWindow(t *testing.T, file string) []byte {
	t.Helper()
	list := mustTool(t, nil, "zstd", "-lv", file)
	m := regexp.MustCompile(`Window Size: .*\((\d+) B\)`).FindSubmatch(list)
	if m == nil {
		t.Fatalf("no window size in zstd -lv:\n%s", list)
	}
	if win, _ := strconv.Atoi(string(m[1])); win > 8<<20 {
		t.Errorf("window %d bytes, the kernel needs at most 8 MiB", win)
	}
	return list
}

// compressPart compresses seg as p, a segment of code, teeing the
// compressed bytes to tee when it is not nil.
func compressPart(p *Part, code Code, seg []byte, tee io.Writer) error {
	zw, err := p.CompressCode(code, tee)
	if err == nil {
		_, err = zw.Write(seg)
	}
	if err == nil {
		err = p.Close()
	}
	return err
}
