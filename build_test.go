package mkinitrd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// newc returns a newc archive of one file, ended by a trailer unless
// trailer is false.
func newc(t *testing.T, trailer bool) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpiogen.NewWriter(&b)
	if err := w.WriteHeader(&cpiogen.Header{Name: "early", Mode: cpiogen.TypeReg | 0o644, Size: 5}); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	if trailer {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestPrependChecked: a prepend file must be a regular file of newc
// archives, each ended by TRAILER!!!; zeros may pad them.
func TestPrependChecked(t *testing.T) {
	tests := []struct {
		name string
		data func(t *testing.T) []byte // nil: a FIFO
		want string                    // "" for success
	}{
		{"archive", func(t *testing.T) []byte { return newc(t, true) }, ""},
		{"two archives, padded", func(t *testing.T) []byte {
			return append(append(newc(t, true), make([]byte, 12)...), newc(t, true)...)
		}, ""},
		{"no trailer", func(t *testing.T) []byte { return newc(t, false) }, "missing TRAILER!!!"},
		{"garbage after the trailer", func(t *testing.T) []byte { return append(newc(t, true), "junk"...) }, "not a newc archive"},
		{"text", func(*testing.T) []byte { return []byte("hello, world\n") }, "not a newc archive"},
		{"compressed", func(*testing.T) []byte { return []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0} }, "not a newc archive"},
		{"empty", func(*testing.T) []byte { return nil }, "is empty"},
		{"FIFO", nil, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "early.cpio")
			if tt.data == nil {
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, tt.data(t), 0o644); err != nil {
				t.Fatal(err)
			}
			m := manifest(t, `{"prepend": ["/early.cpio"], "contents": [{"target": "/a", "text": "x"}]}`)
			var out bytes.Buffer
			_, err := Build(context.Background(), &out, m, Options{Root: dir})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if data, _ := os.ReadFile(p); !bytes.HasPrefix(out.Bytes(), data) {
					t.Error("the image does not start with the prepend file")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "prepend /early.cpio: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming the file and %q", err, tt.want)
			}
		})
	}
}

func manifest(t *testing.T, text string) *resolve.Manifest {
	t.Helper()
	m, err := resolve.ParseManifest(strings.NewReader(text), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOutputsAreNotRead: a source or prepend file that is one of the
// Outputs is an error wrapping ErrInputIsOutput, before the output is
// written.
func TestOutputsAreNotRead(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "data/out.img")
	os.MkdirAll(filepath.Dir(out), 0o755)
	if err := os.WriteFile(out, newc(t, true), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		`{"contents": [{"source": "/data/out.img"}]}`,
		`{"contents": [{"source": "/data"}]}`,
		`{"contents": [{"source": "/data/out.img", "target": "/other"}]}`,
		`{"prepend": ["/data/out.img"]}`,
	} {
		_, err := Build(context.Background(), io.Discard, manifest(t, text), Options{Root: dir, Outputs: []os.FileInfo{fi}})
		if !errors.Is(err, ErrInputIsOutput) || !strings.Contains(err.Error(), "/data/out.img") {
			t.Errorf("%s: error %v, want ErrInputIsOutput naming /data/out.img", text, err)
		}
	}
}

// TestCompressorErrorNamesNoEntry: a failing compressor's error is its
// own, without the entry or source that was being written.
func TestCompressorErrorNamesNoEntry(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("0123456789"), 1<<17), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"sh -c 'head -c 10 >/dev/null; exit 3'", "false"} {
		c, err := compressors.Lookup("cmd:"+line, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := manifest(t, `{"contents": [{"source": "/big"}]}`)
		_, err = Build(context.Background(), io.Discard, m, Options{Root: dir, Compressor: c})
		if err == nil || !strings.HasPrefix(err.Error(), `compressor "`+line+`"`) {
			t.Errorf("%s: error %v, want the compressor's own", line, err)
		}
	}
}

// TestResolvedHook: Options.Resolved runs once, after resolving and
// before the first write; its error stops the build.
func TestResolvedHook(t *testing.T) {
	m := manifest(t, `{"contents": [{"target": "/a", "text": "x"}]}`)
	var calls, writesBefore int
	w := &countWriter{w: io.Discard}
	opts := Options{Root: t.TempDir(), Resolved: func() error { calls++; writesBefore = int(w.n); return nil }}
	if _, err := Build(context.Background(), w, m, opts); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || writesBefore != 0 {
		t.Errorf("Resolved ran %d times, after %d bytes", calls, writesBefore)
	}
	stop := errors.New("stop")
	opts.Resolved = func() error { return stop }
	if _, err := Build(context.Background(), w, m, opts); !errors.Is(err, stop) {
		t.Errorf("Build = %v, want Resolved's error", err)
	}
	bad := manifest(t, `{"contents": [{"source": "/missing"}]}`)
	opts.Resolved = func() error { t.Error("Resolved ran for a failing resolution"); return nil }
	Build(context.Background(), w, bad, opts)
}

// TestEarlyResolved: the microcode and prepend archives are part of the
// closure that Resolve returns, why-style lookups find the microcode,
// and Build writes what WriteEarly and WriteArchive write from it.
func TestEarlyResolved(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"lib/firmware/intel-ucode/06-8e-09":               "intel\n",
		"lib/firmware/intel-ucode/06-9e-0a":               "more intel\n",
		"lib/firmware/amd-ucode/microcode_amd_fam17h.bin": "amd\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prepend := append(newc(t, true), 0) // 1 byte of padding to keep: the size is not a multiple of 4
	if err := os.WriteFile(filepath.Join(dir, "early.cpio"), prepend, 0o644); err != nil {
		t.Fatal(err)
	}
	text := `{"compress": "none", "microcode": true, "prepend": ["/early.cpio"], "contents": [{"target": "/a", "text": "x"}]}`
	c, err := Resolve(manifest(t, text), Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Early) != 2 || len(c.Early[0].Entries) != 5 || c.Early[1].Archive != "/early.cpio" || c.Early[1].Size != int64(len(prepend)) {
		t.Fatalf("Early = %+v, want the microcode archive's 5 entries, then /early.cpio", c.Early)
	}
	if e, ok := c.Lookup("/kernel/x86/microcode/GenuineIntel.bin"); !ok || string(e.Data) != "intel\nmore intel\n" {
		t.Errorf("Lookup of the Intel microcode = %+v, %v", e, ok)
	}
	fsys, err := OpenRoot(manifest(t, text), Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	var want bytes.Buffer
	if err := WriteEarly(context.Background(), &want, c, fsys, 7); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(want.Bytes(), append(prepend, 0, 0, 0)) || want.Len()%4 != 0 {
		t.Error("WriteEarly did not copy the prepend archive padded to 4 bytes")
	}
	if _, err := WriteArchive(context.Background(), &want, c, fsys, 7); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	res, err := Build(context.Background(), &got, manifest(t, text), Options{Root: dir, MTime: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("Build wrote %d bytes that differ from the %d of WriteEarly and WriteArchive", got.Len(), want.Len())
	}
	if len(res.Closure.Early) != 2 || res.Closure.Early[0].Entries[3].Size != int64(len("intel\nmore intel\n")) {
		t.Errorf("Result.Closure.Early = %+v", res.Closure.Early)
	}
}
