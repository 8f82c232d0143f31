package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The JSON that `ls --json` and `diff --json` print, declared here as a
// consumer would, so that a renamed field fails the test.
type lsImage struct {
	Size     int64       `json:"size"`
	Segments []lsSegment `json:"segments"`
	Entries  []lsEntry   `json:"entries"`
}

type lsSegment struct {
	Index        int    `json:"index"`
	Format       string `json:"format"`
	Offset       int64  `json:"offset"`
	Size         int64  `json:"size"`
	Streams      int    `json:"streams"`
	Uncompressed int64  `json:"uncompressed"`
	Entries      int    `json:"entries"`
	Trailers     int    `json:"trailers"`
}

type lsEntry struct {
	Path     string `json:"path"`
	Type     string `json:"type"`
	Mode     string `json:"mode"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	Size     int64  `json:"size"`
	Link     string `json:"link"`
	Major    uint32 `json:"major"`
	Minor    uint32 `json:"minor"`
	MTime    int64  `json:"mtime"`
	NLink    uint32 `json:"nlink"`
	HardLink string `json:"hardlink"`
	SHA256   string `json:"sha256"`
	DataSize int64  `json:"data_size"`
	Segment  int    `json:"segment"`
}

type diffSide struct {
	File         string   `json:"file"`
	Size         int64    `json:"size"`
	Uncompressed int64    `json:"uncompressed"`
	Content      int64    `json:"content"`
	Entries      int      `json:"entries"`
	Formats      []string `json:"formats"`
}

type diffJSON struct {
	Old               diffSide  `json:"old"`
	New               diffSide  `json:"new"`
	CompressedDelta   int64     `json:"compressed_delta"`
	UncompressedDelta int64     `json:"uncompressed_delta"`
	ContentDelta      int64     `json:"content_delta"`
	Added             []lsEntry `json:"added"`
	Removed           []lsEntry `json:"removed"`
	Changed           []struct {
		Path      string   `json:"path"`
		Fields    []string `json:"fields"`
		SizeDelta int64    `json:"size_delta"`
		Old       lsEntry  `json:"old"`
		New       lsEntry  `json:"new"`
	} `json:"changed"`
	By     string `json:"by"`
	Groups []struct {
		Name       string `json:"name"`
		OldContent int64  `json:"old_content"`
		NewContent int64  `json:"new_content"`
		Delta      int64  `json:"delta"`
		OldEntries int    `json:"old_entries"`
		NewEntries int    `json:"new_entries"`
		Added      int    `json:"added"`
		Removed    int    `json:"removed"`
		Changed    int    `json:"changed"`
	} `json:"groups"`
}

// decodeJSON parses out strictly: unknown fields fail, so the declared
// schema and the output stay in step.
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("parsing JSON: %v\n%s", err, tail(out, 40))
	}
}

func lsJSON(t *testing.T, image string) lsImage {
	t.Helper()
	r := run(t, nil, "ls", "--json", image)
	if r.code != 0 {
		t.Fatalf("ls --json %s: exit %d\n%s", image, r.code, r.stderr)
	}
	var img lsImage
	decodeJSON(t, r.stdout, &img)
	return img
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// cpioPiece archives the names of dir given (relative, like find
// prints them) with GNU cpio in the newc format.
func cpioPiece(t *testing.T, dir string, names ...string) []byte {
	t.Helper()
	cmd := exec.Command("cpio", "-o", "-H", "newc", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -o: %v\n%s", err, errb.String())
	}
	return out
}

func filter(t *testing.T, data []byte, name string, args ...string) []byte {
	t.Helper()
	r := runCmd(t, nil, data, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %v: exit %d: %s", name, args, r.code, r.stderr)
	}
	return []byte(r.stdout)
}

// TestLsForeignSegments lists an image made only with other tools: an
// uncompressed early cpio, then one segment in every compressed format
// the kernel reads, with zero padding here and there.
func TestLsForeignSegments(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"kernel/x86/microcode/GenuineIntel.bin": "microcode",
		"main/bin/tool":                         strings.Repeat("binary ", 3000),
		"main/etc/conf":                         "key=value\n",
		"main/bin/sh":                           "->tool",
	})
	must(t, os.Link(filepath.Join(dir, "main/bin/tool"), filepath.Join(dir, "main/bin/tool2")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "main/fifo"), 0o600))
	must(t, syscall.Mknod(filepath.Join(dir, "main/null"), syscall.S_IFCHR|0o666, 1<<8|3))

	early := cpioPiece(t, dir, "kernel", "kernel/x86", "kernel/x86/microcode", "kernel/x86/microcode/GenuineIntel.bin")
	main := cpioPiece(t, dir, "main", "main/bin", "main/bin/tool", "main/bin/tool2", "main/bin/sh", "main/etc", "main/etc/conf", "main/fifo", "main/null")
	segs := []struct {
		format string
		data   []byte
	}{
		{"cpio", early},
		{"gzip", filter(t, main, "gzip", "-n", "-c")},
		{"zstd", filter(t, main, "zstd", "-q", "-c", "-19")},
		{"xz", filter(t, main, "xz", "--check=crc32", "-c")},
		{"bzip2", filter(t, main, "bzip2", "-c")},
		{"lzma", filter(t, main, "lzma", "-c")},
		{"lz4", filter(t, main, "lz4", "-l", "-q", "-c")}, // lz4 must come last
	}
	var image []byte
	var offsets []int64
	for i, s := range segs {
		offsets = append(offsets, int64(len(image)))
		image = append(image, s.data...)
		if i%2 == 1 && i < len(segs)-1 {
			image = append(image, make([]byte, 4*i)...)
		}
	}
	name := filepath.Join(dir, "initrd.img")
	must(t, os.WriteFile(name, image, 0o644))

	img := lsJSON(t, name)
	if img.Size != int64(len(image)) || len(img.Segments) != len(segs) {
		t.Fatalf("size %d, %d segments; want %d, %d: %+v", img.Size, len(img.Segments), len(image), len(segs), img.Segments)
	}
	// Each segment lists what cpio -t lists of its piece.
	earlyNames := strings.Fields(string(filter(t, early, "cpio", "-t", "--quiet")))
	mainNames := strings.Fields(string(filter(t, main, "cpio", "-t", "--quiet")))
	for i, s := range img.Segments {
		if s.Format != segs[i].format || s.Offset != offsets[i] || s.Index != i {
			t.Errorf("segment %d: %s at %d, want %s at %d", i, s.Format, s.Offset, segs[i].format, offsets[i])
		}
		if i > 0 && (s.Size != int64(len(segs[i].data)) || s.Uncompressed != int64(len(main))) {
			t.Errorf("segment %d: %d bytes, %d uncompressed; want %d, %d", i, s.Size, s.Uncompressed, len(segs[i].data), len(main))
		}
		var got []string
		for _, e := range img.Entries {
			if e.Segment == i {
				got = append(got, strings.TrimPrefix(e.Path, "/"))
			}
		}
		want := mainNames
		if i == 0 {
			want = earlyNames
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("segment %d (%s) lists %v, cpio -t lists %v", i, s.Format, got, want)
		}
		if s.Entries != len(want) || s.Trailers != 1 {
			t.Errorf("segment %d: %d entries, %d trailers", i, s.Entries, s.Trailers)
		}
	}
	tool := strings.Repeat("binary ", 3000)
	for _, e := range img.Entries {
		if e.Segment != 6 {
			continue
		}
		switch strings.TrimPrefix(e.Path, "/main") {
		case "/bin/tool", "/bin/tool2":
			if e.Type != "file" || e.Size != int64(len(tool)) || e.SHA256 != sha256Hex([]byte(tool)) || e.NLink != 2 || e.HardLink == "" {
				t.Errorf("%s: %+v", e.Path, e)
			}
		case "/bin/sh":
			if e.Type != "symlink" || e.Link != "tool" || e.Mode != "0777" {
				t.Errorf("%s: %+v", e.Path, e)
			}
		case "/fifo":
			if e.Type != "fifo" || e.Mode != "0600" {
				t.Errorf("%s: %+v", e.Path, e)
			}
		case "/null":
			if e.Type != "char" || e.Major != 1 || e.Minor != 3 {
				t.Errorf("%s: %+v", e.Path, e)
			}
		}
	}

	// The short and long listings name the same entries.
	short := run(t, nil, "ls", name)
	long := run(t, nil, "ls", "-l", name)
	if short.code != 0 || long.code != 0 {
		t.Fatalf("ls: exit %d, ls -l: exit %d\n%s%s", short.code, long.code, short.stderr, long.stderr)
	}
	if n := len(strings.Split(strings.TrimSpace(short.stdout), "\n")); n != len(img.Entries) {
		t.Errorf("ls prints %d lines, want %d", n, len(img.Entries))
	}
	if piped := runCmd(t, nil, image, exe, "ls", "-"); piped.code != 0 || piped.stdout != short.stdout {
		t.Errorf("ls - (standard input): exit %d, output differs from ls FILE:\n%s%s", piped.code, piped.stdout, piped.stderr)
	}
	for _, want := range []string{"# segment 0: cpio at offset 0:", "# segment 6: lz4 at offset", "crw-r--r--", "[6] /main/null",
		"lrwxrwxrwx   1     0     0          4  [6] /main/bin/sh -> tool", "prw-------"} {
		if !strings.Contains(long.stdout, want) {
			t.Errorf("ls -l lacks %q:\n%s", want, long.stdout)
		}
	}
}

// TestLsDebianInitrd lists the images Debian's initramfs-tools made on
// this machine (an optional early cpio, then a compressed archive) and
// checks them against lsinitramfs.
func TestLsDebianInitrd(t *testing.T) {
	// One image per installed kernel: initramfs-tools leaves
	// initrd.img-VERSION.new and .dpkg-bak beside them while it works.
	var images []string
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	for _, k := range kernels {
		image := "/boot/initrd.img-" + strings.TrimPrefix(k, "/boot/vmlinuz-")
		if _, err := os.Stat(image); err == nil {
			images = append(images, image)
		}
	}
	if len(images) == 0 {
		t.Fatal("no /boot/initrd.img-*: the Makefile's DEPS install linux-image-amd64, whose initramfs-tools makes one (make deps)")
	}
	sort.Strings(images)
	image := images[len(images)-1]
	img := lsJSON(t, image)
	ref := strings.Split(strings.TrimSpace(mustRun(t, "lsinitramfs", image)), "\n")
	var want []string
	for _, n := range ref {
		want = append(want, filepath.Clean("/"+n))
	}
	var got []string
	for _, e := range img.Entries {
		got = append(got, e.Path)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: ls lists %d entries, lsinitramfs %d", image, len(got), len(want))
	}
	fi, err := os.Stat(image)
	must(t, err)
	if img.Size != fi.Size() {
		t.Errorf("size %d, file has %d", img.Size, fi.Size())
	}
	last := img.Segments[len(img.Segments)-1]
	if last.Format == "cpio" || last.Trailers == 0 {
		t.Errorf("last segment %+v: want a compressed archive with a trailer", last)
	}
	// The same image diffed with itself has no changes.
	r := run(t, nil, "diff", "--json", image, image)
	if r.code != 0 {
		t.Fatalf("diff: exit %d\n%s", r.code, r.stderr)
	}
	var d diffJSON
	decodeJSON(t, r.stdout, &d)
	if len(d.Added)+len(d.Removed)+len(d.Changed) != 0 || d.CompressedDelta != 0 || d.Old.Entries != len(got) {
		t.Errorf("self-diff: %d added, %d removed, %d changed, delta %d, %d entries",
			len(d.Added), len(d.Removed), len(d.Changed), d.CompressedDelta, d.Old.Entries)
	}
}

// diffRoot makes a source tree and returns it with a manifest of it.
func diffRoot(t *testing.T, files map[string]string) (root, manifest string) {
	t.Helper()
	root = t.TempDir()
	writeFiles(t, root, files)
	var contents []string
	var names []string
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		contents = append(contents, fmt.Sprintf(`{"source": "/%s"}`, p))
	}
	manifest = filepath.Join(t.TempDir(), "m.json")
	must(t, os.WriteFile(manifest, []byte(`{"contents": [`+strings.Join(contents, ",")+`]}`), 0o644))
	return root, manifest
}

func buildImage(t *testing.T, manifest, root, out string, extra ...string) {
	t.Helper()
	r := run(t, nil, append([]string{"--manifest", manifest, "--root", root, "-o", out}, extra...)...)
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
}

func TestDiffAndSizeGate(t *testing.T) {
	big := make([]byte, 200_000)
	for i := range big {
		big[i] = byte(i * 7919 >> 3) // compresses, but not to nothing
	}
	oldRoot, oldManifest := diffRoot(t, map[string]string{
		"usr/bin/tool":  "v1",
		"usr/lib/gone":  "removed later",
		"etc/conf":      "a=1\n",
		"usr/share/big": string(big[:1000]),
	})
	newRoot, newManifest := diffRoot(t, map[string]string{
		"usr/bin/tool":  "version 2",
		"usr/lib/added": "new",
		"etc/conf":      "a=1\n",
		"usr/share/big": string(big),
	})
	must(t, os.Chmod(filepath.Join(newRoot, "etc/conf"), 0o600))
	dir := t.TempDir()
	oldImg, newImg := filepath.Join(dir, "old.img"), filepath.Join(dir, "new.img")
	buildImage(t, oldManifest, oldRoot, oldImg, "-c", "zstd")
	buildImage(t, newManifest, newRoot, newImg, "-c", "gzip")

	r := run(t, nil, "diff", "--json", oldImg, newImg)
	if r.code != 0 {
		t.Fatalf("diff: exit %d\n%s", r.code, r.stderr)
	}
	var d diffJSON
	decodeJSON(t, r.stdout, &d)
	names := func(es []lsEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Path)
		}
		return out
	}
	if want := []string{"/usr/lib/added"}; !reflect.DeepEqual(names(d.Added), want) {
		t.Errorf("added %v, want %v", names(d.Added), want)
	}
	if want := []string{"/usr/lib/gone"}; !reflect.DeepEqual(names(d.Removed), want) {
		t.Errorf("removed %v, want %v", names(d.Removed), want)
	}
	changed := map[string]string{}
	for _, c := range d.Changed {
		changed[c.Path] = strings.Join(c.Fields, ",")
	}
	if want := map[string]string{"/usr/bin/tool": "size,content", "/etc/conf": "mode", "/usr/share/big": "size,content"}; !reflect.DeepEqual(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	oldFi, _ := os.Stat(oldImg)
	newFi, _ := os.Stat(newImg)
	growth := newFi.Size() - oldFi.Size()
	if d.Old.Size != oldFi.Size() || d.New.Size != newFi.Size() || d.CompressedDelta != growth || growth <= 0 {
		t.Fatalf("sizes %d -> %d (delta %d), files %d -> %d", d.Old.Size, d.New.Size, d.CompressedDelta, oldFi.Size(), newFi.Size())
	}
	if !reflect.DeepEqual(d.Old.Formats, []string{"zstd"}) || !reflect.DeepEqual(d.New.Formats, []string{"gzip"}) {
		t.Errorf("formats %v -> %v", d.Old.Formats, d.New.Formats)
	}
	if d.ContentDelta != int64(len("version 2")-len("v1")+len("new")-len("removed later")+len(big)-1000) {
		t.Errorf("content delta %d", d.ContentDelta)
	}

	// The size gate: exit 1 only when the growth is over the limit.
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--fail-over", "0"}, 1},
		{[]string{"--fail-over", fmt.Sprint(growth)}, 0},
		{[]string{"--fail-over", fmt.Sprint(growth - 1)}, 1},
		{[]string{"--fail-over", "1M"}, 0},
		{[]string{"--fail-over", "1%"}, 1},
		{[]string{"--fail-over", "100000%"}, 0},
		{[]string{"--fail-over", "0", "--by", "dir"}, 1},
		{[]string{"--fail-over", "lots"}, 2},
		{[]string{"--by", "color"}, 2},
	} {
		r := run(t, nil, append(append([]string{"diff"}, tc.args...), oldImg, newImg)...)
		if r.code != tc.code {
			t.Errorf("diff %v: exit %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
		}
		if tc.code == 1 && !strings.Contains(r.stderr, "size check failed") {
			t.Errorf("diff %v: stderr %q", tc.args, r.stderr)
		}
	}
	// Shrinking passes any gate.
	if r := run(t, nil, "diff", "--fail-over", "0", newImg, oldImg); r.code != 0 {
		t.Errorf("shrinking: exit %d\n%s", r.code, r.stderr)
	}

	// The text output, as a CI log shows it.
	text := run(t, nil, "diff", oldImg, newImg)
	for _, want := range []string{"compressed size:   +", "entries: 1 added, 1 removed, 3 changed", "  + -rw-r--r-- 0:0",
		"  - -rw-r--r-- 0:0", "/usr/lib/gone", "  ~ /etc/conf: mode 0644 -> 0600"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("diff output lacks %q:\n%s", want, text.stdout)
		}
	}
	if strings.ContainsRune(text.stdout, 0x1b) {
		t.Error("diff output has escape sequences")
	}
	byDir := run(t, nil, "diff", "--json", "--by", "dir", oldImg, newImg)
	var g diffJSON
	decodeJSON(t, byDir.stdout, &g)
	groups := map[string]int64{}
	for _, x := range g.Groups {
		groups[x.Name] = x.Delta
	}
	if g.By != "dir" || groups["/usr/share"] != int64(len(big)-1000) || groups["/usr/lib"] != int64(len("new")-len("removed later")) {
		t.Errorf("--by dir: by %q, groups %v", g.By, groups)
	}
}

// TestDiffByPackage groups a Debian image's files by the packages that
// ship them, from dpkg's database.
func TestDiffByPackage(t *testing.T) {
	// One image per installed kernel: initramfs-tools leaves
	// initrd.img-VERSION.new and .dpkg-bak beside them while it works.
	var images []string
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	for _, k := range kernels {
		image := "/boot/initrd.img-" + strings.TrimPrefix(k, "/boot/vmlinuz-")
		if _, err := os.Stat(image); err == nil {
			images = append(images, image)
		}
	}
	if len(images) == 0 {
		t.Fatal("no /boot/initrd.img-* (make deps installs linux-image-amd64)")
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.img")
	root, manifest := diffRoot(t, map[string]string{"init": "not a script\n"})
	buildImage(t, manifest, root, empty)
	r := run(t, nil, "diff", "--json", "--by", "package", empty, images[0])
	if r.code != 0 {
		t.Fatalf("diff --by package: exit %d\n%s", r.code, r.stderr)
	}
	var d diffJSON
	decodeJSON(t, r.stdout, &d)
	groups := map[string]int64{}
	for _, g := range d.Groups {
		groups[g.Name] = g.NewContent
	}
	// initramfs-tools copies libc from /usr/lib (merged /usr); dpkg
	// lists it under /lib.
	if groups["libc6:amd64"] == 0 || groups["unknown"] == 0 {
		t.Errorf("groups %v: want libc6:amd64 and unknown", groups)
	}
	if r := run(t, nil, "diff", "--by", "package", "--dpkg-db", dir, empty, empty); r.code != 1 || !strings.Contains(r.stderr, "no dpkg database") {
		t.Errorf("missing dpkg database: exit %d, %s", r.code, r.stderr)
	}
}

func TestWhy(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(manifest, []byte(`{"contents": [{"source": "/bin/bash"}]}`), 0o644))
	r := run(t, nil, "why", "/usr/lib/x86_64-linux-gnu/libc.so.6", "--manifest", manifest, "--root", "/")
	if r.code != 0 {
		t.Fatalf("why: exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "/usr/lib/x86_64-linux-gnu/libc.so.6: ") ||
		!strings.Contains(lines[0], "/usr/bin/bash") || !strings.Contains(lines[len(lines)-1], "manifest") {
		t.Errorf("why libc:\n%s", r.stdout)
	}
	// Through a symlink of the initrd, as JSON.
	r = run(t, nil, "why", "--json", "/lib/x86_64-linux-gnu/libc.so.6", "-m", manifest, "--root", "/")
	if r.code != 0 {
		t.Fatalf("why --json: exit %d\n%s", r.code, r.stderr)
	}
	var w struct {
		Path  string   `json:"path"`
		Entry string   `json:"entry"`
		Via   []string `json:"via"`
		Chain []string `json:"chain"`
	}
	decodeJSON(t, r.stdout, &w)
	if w.Path != "/lib/x86_64-linux-gnu/libc.so.6" || w.Entry != "/usr/lib/x86_64-linux-gnu/libc.so.6" ||
		!reflect.DeepEqual(w.Via, []string{"/lib -> usr/lib"}) || len(w.Chain) < 2 {
		t.Errorf("why --json: %+v", w)
	}
	r = run(t, nil, "why", "/usr/bin/not-there", "-m", manifest, "--root", "/")
	if r.code != 1 || !strings.Contains(r.stderr, "/usr/bin/not-there: not in the initrd built from "+manifest) {
		t.Errorf("missing path: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, nil, "why", "/x"); r.code != 2 || !strings.Contains(r.stderr, "--manifest") {
		t.Errorf("no manifest: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestStatsFile(t *testing.T) {
	root, manifest := diffRoot(t, map[string]string{
		"usr/bin/a": strings.Repeat("a", 5000),
		"usr/lib/b": "bb",
		"init":      "#!/bin/sh\n",
		"bin":       "->usr/bin",
	})
	dir := t.TempDir()
	out, stats := filepath.Join(dir, "initrd.img"), filepath.Join(dir, "stats.json")
	buildImage(t, manifest, root, out, "-c", "xz", "--level", "3", "--stats", stats)
	data, err := os.ReadFile(stats)
	must(t, err)
	var s struct {
		Version           int              `json:"version"`
		Output            string           `json:"output"`
		Compressor        string           `json:"compressor"`
		Level             string           `json:"level"`
		Entries           int              `json:"entries"`
		EntriesByKind     map[string]int   `json:"entries_by_kind"`
		BytesByKind       map[string]int64 `json:"bytes_by_kind"`
		BytesByStorePath  map[string]int64 `json:"bytes_by_store_path"`
		BytesByTopDir     map[string]int64 `json:"bytes_by_top_dir"`
		ContentBytes      int64            `json:"content_bytes"`
		UncompressedBytes int64            `json:"uncompressed_bytes"`
		CompressedBytes   int64            `json:"compressed_bytes"`
		Seconds           struct {
			Resolve float64 `json:"resolve"`
			Archive float64 `json:"archive_compress"`
			Total   float64 `json:"total"`
		} `json:"seconds"`
	}
	decodeJSON(t, string(data), &s)
	img := lsJSON(t, out)
	fi, err := os.Stat(out)
	must(t, err)
	if s.Version != 1 || s.Output != out || s.Compressor != "xz" || s.Level != "3" {
		t.Errorf("header fields: %+v", s)
	}
	if s.CompressedBytes != fi.Size() || s.UncompressedBytes != img.Segments[0].Uncompressed {
		t.Errorf("sizes: compressed %d (file %d), uncompressed %d (archive %d)", s.CompressedBytes, fi.Size(), s.UncompressedBytes, img.Segments[0].Uncompressed)
	}
	if s.Entries != len(img.Entries) || s.EntriesByKind["file"] != 3 || s.EntriesByKind["symlink"] != 1 {
		t.Errorf("entries %d (ls: %d), by kind %v", s.Entries, len(img.Entries), s.EntriesByKind)
	}
	if s.ContentBytes != 5000+2+10 || s.BytesByKind["file"] != s.ContentBytes || s.BytesByTopDir["/usr/bin"] != 5000 || s.BytesByTopDir["/init"] != 10 {
		t.Errorf("bytes: content %d, by kind %v, by dir %v", s.ContentBytes, s.BytesByKind, s.BytesByTopDir)
	}
	if s.Seconds.Resolve <= 0 || s.Seconds.Archive <= 0 || s.Seconds.Total < s.Seconds.Resolve {
		t.Errorf("times %+v", s.Seconds)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) != 0 {
		t.Errorf("temporary files left: %v", names)
	}
	if r := run(t, nil, "--manifest", manifest, "--root", root, "--dry-run", "--stats", stats); r.code != 2 {
		t.Errorf("--stats with --dry-run: exit %d", r.code)
	}
}

// genInitCpio returns the kernel's usr/gen_init_cpio, built from
// Debian's linux-source-6.1 (a Makefile dependency). Extracting one file
// from the 130 MB tarball takes a while, so the binary is kept under
// os.TempDir, keyed by the tarball's size and mtime.
var genInitCpio = sync.OnceValues(func() (string, error) {
	const tarball = "/usr/src/linux-source-6.1.tar.xz"
	fi, err := os.Stat(tarball)
	if err != nil {
		return "", fmt.Errorf("%v: install linux-source-6.1 (make deps)", err)
	}
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("mkinitrd-ng-gen_init_cpio-%d-%d", fi.Size(), fi.ModTime().Unix()))
	bin := filepath.Join(cache, "gen_init_cpio")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	for _, argv := range [][]string{
		{"tar", "-xJf", tarball, "-C", work, "--wildcards", "*/usr/gen_init_cpio.c"},
		{"sh", "-c", "gcc -O2 -o gen_init_cpio */usr/gen_init_cpio.c"},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%v: %v\n%s", argv, err, out)
		}
	}
	// Renamed into place only when built, so a concurrent or interrupted
	// run never finds half a binary.
	return bin, os.Rename(filepath.Join(work, "gen_init_cpio"), bin)
})

// specFixture writes sources and a spec using every line type.
func specFixture(t *testing.T) (spec string, env []string, srcs map[string]string) {
	t.Helper()
	dir := t.TempDir()
	srcs = map[string]string{
		"hello": "#!/bin/sh\necho hello\n",
		"big":   strings.Repeat("0123456789abcdef", 4096) + "tail",
		"empty": "",
	}
	writeFiles(t, dir, map[string]string{"src/hello": srcs["hello"], "src/big": srcs["big"]})
	must(t, os.WriteFile(filepath.Join(dir, "src/empty"), nil, 0o644))
	for name := range srcs {
		must(t, os.Chtimes(filepath.Join(dir, "src", name), mustTime("2023-11-14T22:13:20Z"), mustTime("2023-11-14T22:13:20Z")))
	}
	spec = filepath.Join(dir, "initramfs.list")
	must(t, os.WriteFile(spec, []byte(`# every line type of gen_init_cpio
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/nvme0n1 0660 0 6 b 259 300
dir /bin 0755 0 0
file /bin/hello ${SRC}/hello 0755 0 0
slink /bin/sh hello 0777 0 0
dir /data 2775 1000 1000
file /data/big ${SRC}/big 0644 1000 1000 /data/big2 /data/big3
file /data/empty ${SRC}/empty 0600 0 0
	# an indented comment
pipe /data/fifo 0644 0 0   # a comment after the fields
sock /data/sock 0600 0 0
dir /tmp 1777 0 0
file /bin/su ${SRC}/hello 4755 0 0
`), 0o644))
	return spec, []string{"SRC=" + filepath.Join(dir, "src")}, srcs
}

// TestSpecMatchesGenInitCpio: without compression, mkinitrd-ng spec
// writes the bytes the kernel's own tool writes.
func TestSpecMatchesGenInitCpio(t *testing.T) {
	gic, err := genInitCpio()
	if err != nil {
		t.Fatal(err)
	}
	spec, env, _ := specFixture(t)
	dir := t.TempDir()
	// The sources' mtime is 1700000000: gen_init_cpio 6.1 keeps the
	// files' own mtime and gives -t to the other entries, which our
	// --file-mtimes does, and without it -t to all.
	for _, tc := range []struct {
		name string
		gic  []string
		ours []string
	}{
		{"t", []string{"-t", "1700000000"}, []string{"-t", "1700000000"}},
		{"c", []string{"-c", "-t", "1700000000"}, []string{"--checksum", "-t", "1700000000"}},
		{"file-mtimes", []string{"-t", "12345"}, []string{"-t", "12345", "--file-mtimes"}},
		{"c-file-mtimes", []string{"-c", "-t", "0"}, []string{"--checksum", "--timestamp", "0", "--file-mtimes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, env, nil, gic, append(tc.gic, spec)...)
			if r.code != 0 {
				t.Fatalf("gen_init_cpio: exit %d\n%s", r.code, r.stderr)
			}
			out := filepath.Join(dir, tc.name+".cpio")
			if r := run(t, env, append([]string{"spec", spec, "-o", out}, tc.ours...)...); r.code != 0 {
				t.Fatalf("spec: exit %d\n%s", r.code, r.stderr)
			}
			ours, err := os.ReadFile(out)
			must(t, err)
			if !bytes.Equal(ours, []byte(r.stdout)) {
				t.Errorf("%d bytes differ from gen_init_cpio's %d bytes (first at %d)", len(ours), len(r.stdout), firstDiff(ours, []byte(r.stdout)))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSpecRoundTrip: what a spec says is what ls reads back, and GNU
// cpio extracts the same files; with -a, file data is aligned.
func TestSpecRoundTrip(t *testing.T) {
	spec, env, srcs := specFixture(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		flags []string
		align int64
	}{
		{"plain", nil, 0},
		{"gzip", []string{"--compress", "gzip"}, 0},
		{"align", []string{"-a", "512"}, 512},
		{"align-checksum", []string{"-a", "4096", "--checksum"}, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".img")
			if r := run(t, env, append([]string{"spec", spec, "-o", out, "-t", "99"}, tc.flags...)...); r.code != 0 {
				t.Fatalf("spec: exit %d\n%s", r.code, r.stderr)
			}
			img := lsJSON(t, out)
			got := map[string]lsEntry{}
			var order []string
			for _, e := range img.Entries {
				got[e.Path] = e
				order = append(order, e.Path)
			}
			want := []string{"/dev", "/dev/console", "/dev/nvme0n1", "/bin", "/bin/hello", "/bin/sh", "/data",
				"/data/big", "/data/big2", "/data/big3", "/data/empty", "/data/fifo", "/data/sock", "/tmp", "/bin/su"}
			if !reflect.DeepEqual(order, want) {
				t.Fatalf("entries %v, want %v", order, want)
			}
			check := func(p, typ, mode string, uid, gid uint32, content *string) {
				t.Helper()
				e := got[p]
				if e.Type != typ || e.Mode != mode || e.UID != uid || e.GID != gid || e.MTime != 99 {
					t.Errorf("%s: %+v, want %s %s %d:%d mtime 99", p, e, typ, mode, uid, gid)
				}
				if content != nil && (e.SHA256 != sha256Hex([]byte(*content)) || e.Size != int64(len(*content))) {
					t.Errorf("%s: content %s (%d bytes), want %q", p, e.SHA256, e.Size, (*content)[:min(40, len(*content))])
				}
			}
			hello, big, empty := srcs["hello"], srcs["big"], srcs["empty"]
			check("/dev/console", "char", "0600", 0, 0, nil)
			check("/dev/nvme0n1", "block", "0660", 0, 6, nil)
			check("/bin/hello", "file", "0755", 0, 0, &hello)
			check("/bin/su", "file", "4755", 0, 0, &hello)
			check("/bin/sh", "symlink", "0777", 0, 0, nil)
			check("/data", "dir", "2775", 1000, 1000, nil)
			for _, p := range []string{"/data/big", "/data/big2", "/data/big3"} {
				check(p, "file", "0644", 1000, 1000, &big)
				if got[p].NLink != 3 || got[p].HardLink != "/data/big" {
					t.Errorf("%s: nlink %d, hard link %q", p, got[p].NLink, got[p].HardLink)
				}
			}
			check("/data/empty", "file", "0600", 0, 0, &empty)
			check("/data/fifo", "fifo", "0644", 0, 0, nil)
			check("/data/sock", "socket", "0600", 0, 0, nil)
			check("/tmp", "dir", "1777", 0, 0, nil)
			if e := got["/dev/nvme0n1"]; e.Major != 259 || e.Minor != 300 {
				t.Errorf("nvme0n1: %d:%d", e.Major, e.Minor)
			}
			if got["/bin/sh"].Link != "hello" {
				t.Errorf("/bin/sh -> %q", got["/bin/sh"].Link)
			}
			if tc.align == 0 {
				return
			}
			data, err := os.ReadFile(out)
			must(t, err)
			for name, off := range dataOffsets(t, data) {
				if name == "data/big3" && off%tc.align != 0 {
					t.Errorf("%s: data at %d, not aligned to %d", name, off, tc.align)
				}
			}
			// GNU cpio reads the padded names and extracts the same bytes.
			x := t.TempDir()
			if r := runCmdIn(t, x, nil, data, "cpio", "-id", "--quiet"); r.code != 0 {
				t.Fatalf("cpio -id: exit %d\n%s", r.code, r.stderr)
			}
			b, err := os.ReadFile(filepath.Join(x, "data/big2"))
			if err != nil || string(b) != big {
				t.Errorf("cpio extracted data/big2: %d bytes, %v", len(b), err)
			}
		})
	}
}

// dataOffsets walks a newc archive and returns where each name's data
// starts.
func dataOffsets(t *testing.T, b []byte) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var off int64
	hex8 := func(at int64) int64 {
		var v int64
		_, err := fmt.Sscanf(string(b[at:at+8]), "%08x", &v)
		must(t, err)
		return v
	}
	for off+110 <= int64(len(b)) {
		size, namesize := hex8(off+54), hex8(off+94)
		name := strings.TrimRight(string(b[off+110:off+110+namesize]), "\x00")
		data := (off + 110 + namesize + 3) &^ 3
		if name == "TRAILER!!!" {
			break
		}
		out[name] = data
		off = (data + size + 3) &^ 3
	}
	return out
}

// renumbered returns a newc archive with its inode numbers replaced by
// gen_init_cpio's, 721 on in order of first use: a build numbers inodes
// from paths, gen_init_cpio in the order of its lines.
func renumbered(t *testing.T, b []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	inos := map[string]string{}
	for off := 0; off+110 <= len(b); {
		var size, namesize int
		_, err := fmt.Sscanf(string(b[off+54:off+62])+" "+string(b[off+94:off+102]), "%08x %08x", &size, &namesize)
		must(t, err)
		name := strings.TrimRight(string(b[off+110:off+110+namesize]), "\x00")
		if name == "TRAILER!!!" {
			break
		}
		ino := string(b[off+6 : off+14])
		if _, ok := inos[ino]; !ok {
			inos[ino] = fmt.Sprintf("%08X", 721+len(inos))
		}
		copy(b[off+6:], inos[ino])
		data := (off + 110 + namesize + 3) &^ 3
		off = (data + size + 3) &^ 3
	}
	return b
}

// TestPrintSpec: a build printed as a spec, built again by `spec` and by
// gen_init_cpio, gives the same archive, but for the inode numbers.
func TestPrintSpec(t *testing.T) {
	gic, err := genInitCpio()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"usr/bin/tool":     "tool",
		"usr/lib/data":     "data",
		"opt/x":            "two names",
		"lib":              "->usr/lib",
		"etc/conf/a.conf":  "a",
		"etc/conf/link":    "->a.conf",
		"usr/share/unused": "no",
	})
	must(t, os.Link(filepath.Join(root, "opt/x"), filepath.Join(root, "opt/y")))
	// gen_init_cpio 6.1 takes file mtimes from the sources.
	for _, p := range []string{"usr/bin/tool", "usr/lib/data", "opt/x", "etc/conf/a.conf"} {
		must(t, os.Chtimes(filepath.Join(root, p), mustTime("1970-01-01T00:20:34Z"), mustTime("1970-01-01T00:20:34Z")))
	}
	manifest := filepath.Join(t.TempDir(), "m.json")
	must(t, os.WriteFile(manifest, []byte(`{"contents": [
 {"source": "/usr/bin/tool"}, {"source": "/lib/data"}, {"source": "/opt/x"}, {"source": "/opt/y"},
 {"source": "/etc/conf"},
 {"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
 {"target": "/var/empty", "type": "dir", "mode": "0700"}
]}`), 0o644))
	// No fifo or socket: gen_init_cpio gives them nlink 2, the build 1.
	dir := t.TempDir()
	built := filepath.Join(dir, "built.img")
	buildImage(t, manifest, root, built, "-c", "none", "--source-date-epoch", "1234")
	r := run(t, nil, "--manifest", manifest, "--root", root, "--print-spec")
	if r.code != 0 {
		t.Fatalf("--print-spec: exit %d\n%s", r.code, r.stderr)
	}
	spec := filepath.Join(dir, "spec")
	must(t, os.WriteFile(spec, []byte(r.stdout), 0o644))
	if !strings.Contains(r.stdout, "file /opt/x "+filepath.Join(root, "opt/x")+" 0644 0 0 /opt/y\n") ||
		!strings.Contains(r.stdout, "nod /dev/console 0600 0 0 c 5 1\n") || !strings.Contains(r.stdout, "slink /lib usr/lib 0777 0 0\n") {
		t.Errorf("spec:\n%s", r.stdout)
	}
	want, err := os.ReadFile(built)
	must(t, err)
	want = renumbered(t, want)
	rebuilt := filepath.Join(dir, "rebuilt.img")
	if r := run(t, nil, "spec", spec, "-o", rebuilt, "-t", "1234"); r.code != 0 {
		t.Fatalf("spec: exit %d\n%s", r.code, r.stderr)
	}
	got, err := os.ReadFile(rebuilt)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Errorf("spec of --print-spec: %d bytes, build %d bytes, first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	g := runCmd(t, nil, nil, gic, "-t", "1234", spec)
	if g.code != 0 || g.stdout != string(want) {
		t.Errorf("gen_init_cpio of --print-spec: exit %d, %d bytes, build %d bytes, first difference at %d\n%s",
			g.code, len(g.stdout), len(want), firstDiff([]byte(g.stdout), want), g.stderr)
	}

	// Inline content has no host path: left out, with a warning.
	inline := filepath.Join(dir, "inline.json")
	must(t, os.WriteFile(inline, []byte(`{"contents": [{"target": "/etc/motd", "text": "hi\n"}, {"source": "/usr/bin/tool"}]}`), 0o644))
	r = run(t, nil, "--manifest", inline, "--root", root, "--print-spec")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: --print-spec: /etc/motd") ||
		!strings.Contains(r.stdout, "# left out: /etc/motd") || !strings.Contains(r.stdout, "file /usr/bin/tool ") {
		t.Errorf("inline content: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestSpecErrors(t *testing.T) {
	spec, env, _ := specFixture(t)
	out := filepath.Join(t.TempDir(), "out.cpio")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"no output", []string{"spec", spec}, env, 2, "-o OUT is required"},
		{"bad align", []string{"spec", spec, "-o", out, "-a", "3"}, env, 2, "power of two"},
		{"bad epoch", []string{"spec", spec, "-o", out, "-t", "soon"}, env, 2, "-t \"soon\""},
		{"missing source", []string{"spec", spec, "-o", out}, []string{"SRC=/nonexistent"}, 1, "/nonexistent/hello"},
		{"missing spec", []string{"spec", "/nonexistent.list", "-o", out}, env, 1, "nonexistent.list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", r.code, tc.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s written by a failed run", out)
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "bad.list")
	must(t, os.WriteFile(bad, []byte("file /x\nfrob /y 0644 0 0\n"), 0o644))
	if r := run(t, nil, "spec", bad, "-o", out); r.code != 1 || !strings.Contains(r.stderr, "spec line 1") || !strings.Contains(r.stderr, "spec line 2") {
		t.Errorf("bad spec: exit %d, stderr %q", r.code, r.stderr)
	}
}
