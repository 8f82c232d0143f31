package inspect

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// file is an entry of a test archive: a regular file unless link or
// typ say otherwise.
type file struct {
	name, data, link string
	typ              uint32 // cpiogen.Type*; 0 = regular file (or symlink if link is set)
	mode             uint32
	linkKey          string // hard-link group
	nlink            uint32
}

// archive writes files as a newc archive; trailer adds TRAILER!!! and
// the 512-byte padding, without it the archive stops after the last
// entry, as a segment of a segment-parallel image does.
func archive(t testing.TB, trailer bool, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpiogen.NewWriter(&buf)
	for _, f := range files {
		h := &cpiogen.Header{Name: f.name, Mode: f.mode, Linkname: f.link, LinkKey: f.linkKey, NLink: f.nlink, MTime: 1}
		switch {
		case f.typ != 0:
			h.Mode |= f.typ
		case f.link != "":
			h.Mode |= cpiogen.TypeSymlink | 0o777
		default:
			h.Mode |= cpiogen.TypeReg
			h.Size = int64(len(f.data))
		}
		if h.Mode&cpiogen.ModePerm == 0 {
			h.Mode |= 0o644
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if h.Type() == cpiogen.TypeReg {
			if _, err := w.Write([]byte(f.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if trailer {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// tool runs a command with stdin and returns its output.
func tool(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}

// compressors' command lines, in the forms the kernel reads.
var cli = map[string][]string{
	"gzip":  {"gzip", "-n", "-c"},
	"zstd":  {"zstd", "-q", "-c"},
	"xz":    {"xz", "--check=crc32", "-c"},
	"lzma":  {"lzma", "-c"},
	"bzip2": {"bzip2", "-c"},
	"lz4":   {"lz4", "-l", "-q", "-c"},
	"cpio":  {"cat"},

	// xz as the xz-cli compressor writes code: x86 BCJ before LZMA2.
	"xz-x86": {"xz", "--check=crc32", "--x86", "--lzma2=preset=1,dict=2MiB", "-c"},
}

// compress compresses data with the real command-line tool for format.
func compress(t testing.TB, format string, data []byte) []byte {
	t.Helper()
	argv := cli[format]
	if argv == nil {
		t.Fatalf("no command for %s", format)
	}
	return tool(t, data, argv[0], argv[1:]...)
}

func zeros(n int) []byte { return make([]byte, n) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// paths returns the paths of entries, in order.
func paths(entries []Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Path
	}
	return out
}
