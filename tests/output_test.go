package tests

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReproducible(t *testing.T) {
	root := fixtureRoot(t)
	a := buildFixture(t, root, nil, "-c", "gzip")
	b := buildFixture(t, root, nil, "-c", "gzip")
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of one manifest differ")
	}
	// Touching every source changes no byte: mtimes come from the epoch.
	must(t, filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		must(t, err)
		ts := []unix.Timespec{unix.NsecToTimespec(time1.UnixNano()), unix.NsecToTimespec(time1.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
	if c := buildFixture(t, root, nil, "-c", "gzip"); !bytes.Equal(a, c) {
		t.Error("the sources' mtimes leak into the archive")
	}
	e1 := buildFixture(t, root, []string{"SOURCE_DATE_EPOCH=1700000000"}, "-c", "none")
	e2 := buildFixture(t, root, []string{"SOURCE_DATE_EPOCH=1700000000"}, "-c", "none")
	if !bytes.Equal(e1, e2) {
		t.Error("two builds with SOURCE_DATE_EPOCH differ")
	}
	// The mtime field of the first record is 1700000000 = 0x6553F100.
	if got := string(e1[6+5*8 : 6+6*8]); got != "6553F100" {
		t.Errorf("mtime of the first entry = %s, want 6553F100", got)
	}
	flag := buildFixture(t, root, []string{"SOURCE_DATE_EPOCH=5"}, "-c", "none", "--source-date-epoch", "1700000000")
	if !bytes.Equal(flag, e1) {
		t.Error("--source-date-epoch does not win over SOURCE_DATE_EPOCH")
	}
}

var time1 = mustTime("2001-02-03T04:05:06Z")

func TestManifestOrderDoesNotMatter(t *testing.T) {
	root := fixtureRoot(t)
	want := buildFixture(t, root, nil, "-c", "none")
	// Reverse the contents list.
	start := strings.Index(fixtureManifest, "[") + 1
	end := strings.LastIndex(fixtureManifest, "]")
	var items []string
	for _, line := range strings.Split(fixtureManifest[start:end], "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		if line != "" {
			items = append(items, line)
		}
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	reversed := `{"contents": [` + strings.Join(items, ",\n") + `]}`
	dir := t.TempDir()
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(reversed), 0o644))
	out := filepath.Join(dir, "out")
	if r := run(t, nil, "-m", m, "--root", root, "-o", out, "-c", "none"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Error("reversing the manifest's entries changed the archive")
	}
}

// TestCompressorsDecodeWithRealTools checks each compressor's output with
// its own CLI, and the kernel's quirks: xz with a CRC32 check, lz4 in the
// legacy frame.
func TestCompressorsDecodeWithRealTools(t *testing.T) {
	root := fixtureRoot(t)
	plain := buildFixture(t, root, nil, "-c", "none")
	if len(plain)%512 != 0 {
		t.Errorf("uncompressed archive is %d bytes, not a multiple of 512", len(plain))
	}
	tests := []struct {
		name   string
		decode []string
		magic  []byte
	}{
		{"gzip", []string{"gzip", "-dc"}, []byte{0x1f, 0x8b}},
		{"zstd", []string{"zstd", "-dc"}, []byte{0x28, 0xb5, 0x2f, 0xfd}},
		{"xz", []string{"xz", "-dc"}, []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
		{"lz4", []string{"lz4", "-dc"}, []byte{0x02, 0x21, 0x4c, 0x18}},
		{"cmd:gzip -n -9", []string{"gzip", "-dc"}, []byte{0x1f, 0x8b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := buildFixture(t, root, nil, "-c", tt.name)
			if !bytes.HasPrefix(img, tt.magic) {
				t.Errorf("starts with % x, want % x", img[:8], tt.magic)
			}
			r := runCmd(t, nil, img, tt.decode[0], tt.decode[1:]...)
			if r.code != 0 {
				t.Fatalf("%v: %s", tt.decode, r.stderr)
			}
			if r.stdout != string(plain) {
				t.Errorf("%v output differs from the uncompressed build", tt.decode)
			}
		})
	}
	t.Run("xz check", func(t *testing.T) {
		img := buildFixture(t, root, nil, "-c", "xz")
		p := filepath.Join(t.TempDir(), "i.xz")
		must(t, os.WriteFile(p, img, 0o644))
		out := mustRun(t, "xz", "-lvv", p)
		if !strings.Contains(out, "CRC32") || strings.Contains(out, "CRC64") {
			t.Errorf("xz -lvv does not show a CRC32 check:\n%s", out)
		}
	})
	t.Run("lz4 legacy magic", func(t *testing.T) {
		img := buildFixture(t, root, nil, "-c", "lz4")
		if binary.LittleEndian.Uint32(img) != 0x184C2102 {
			t.Errorf("lz4 magic = %#x, want the legacy 0x184C2102", binary.LittleEndian.Uint32(img))
		}
	})
}

func TestStdoutAndStdin(t *testing.T) {
	root := fixtureRoot(t)
	want := buildFixture(t, root, nil, "-c", "none")
	r := runCmd(t, nil, []byte(fixtureManifest), exe, "-m", "-", "--root", root, "-o", "-", "-c", "none")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r.stdout != string(want) {
		t.Error("-m - -o - gives another archive than files do")
	}
}

func TestDryRun(t *testing.T) {
	root := fixtureRoot(t)
	dir := t.TempDir()
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(fixtureManifest), 0o644))
	r := run(t, nil, "-m", m, "--root", root, "--dry-run", "-v")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, want := range []string{
		"symlink 0777 0:0 /lib -> usr/lib",
		"file    0600 7:8 /copied.txt (from /usr/lib/data.txt)",
		"char    0600 0:0 /dev/console 5:1",
		"interpreter of /usr/bin/hello",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dry-run -v output lacks %q:\n%s", want, r.stdout)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Error("--dry-run wrote a file")
	}
}
