package tests

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// storedPayload writes files whose content is compressed already: a
// module compressed with xz, firmware with zstd, a document with gzip,
// each large enough to be stored, and a small .xz that is not, under
// dir/lib/...; it returns the md5 sums the guest prints, in its order.
func storedPayload(t *testing.T, dir string) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	files := []struct{ path, tool string }{
		{"lib/modules/6.1.0-test/kernel/drivers/a.ko", "xz"},
		{"lib/firmware/vendor/fw.bin", "zstd"},
		{"usr/share/doc/readme", "gzip"},
		{"lib/modules/6.1.0-test/kernel/tiny.ko", "xz"},
	}
	var sums []string
	for i, f := range files {
		n := 200_000
		if i == len(files)-1 {
			n = 100
		}
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.IntN(64))
		}
		p := filepath.Join(dir, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
		args := map[string][]string{"xz": {"--check=crc32", "-q"}, "zstd": {"-q", "--rm"}, "gzip": {"-n"}}[f.tool]
		mustRun(t, f.tool, append(args, p)...)
		ext := map[string]string{"xz": ".xz", "zstd": ".zst", "gzip": ".gz"}[f.tool]
		packed, err := os.ReadFile(p + ext)
		must(t, err)
		sum := md5.Sum(packed)
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	return strings.Join(sums, " ")
}

// storedInit prints the md5 sums of the stored files, as the kernel
// unpacked them.
const storedInit = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
s=""
for f in /payload/lib/modules/6.1.0-test/kernel/drivers/a.ko.xz /payload/lib/firmware/vendor/fw.bin.zst /payload/usr/share/doc/readme.gz /payload/lib/modules/6.1.0-test/kernel/tiny.ko.xz; do
  set -- $(/bin/busybox md5sum $f)
  s="$s $1"
done
/bin/busybox echo "SUMS$s END-SUMS"
/bin/busybox poweroff -f
`

// storedImage builds the stored payload with comp and returns the image
// and what ls -l says of its segments.
func storedImage(t *testing.T, dir, comp string) (img, segments string) {
	t.Helper()
	m := filepath.Join(dir, "initrd.json")
	if _, err := os.Stat(m); err != nil {
		must(t, os.WriteFile(m, []byte(fmt.Sprintf(`{"contents": [
 {"target": "/init", "mode": "0755", "text": %q},
 {"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
 {"target": "/proc", "type": "dir"},
 {"source": %q, "target": "/payload"}
]}`, storedInit, filepath.Join(dir, "payload"))), 0o644))
	}
	img = filepath.Join(dir, "initrd-"+comp)
	if r := run(t, nil, "-m", m, "-o", img, "-c", comp); r.code != 0 {
		t.Fatalf("mkinitrd-ng -c %s: %s", comp, r.stderr)
	}
	r := run(t, nil, "ls", "-l", img)
	if r.code != 0 {
		t.Fatalf("ls -l: %s", r.stderr)
	}
	var segs []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "# segment") {
			segs = append(segs, l)
		}
	}
	return img, strings.Join(segs, "\n")
}

// storedSegment matches the stored segment of 3 entries between
// compressed ones, at a multiple of 4 bytes.
var storedSegment = regexp.MustCompile(`(?m)^# segment 1: cpio at offset (\d+): \d+ bytes, 3 entries\n# segment 2: \w+ at`)

// TestStoredSegments: with each segmented compressor, the files whose
// content is compressed already, and large enough, come uncompressed in
// a segment of their own after the compressed ones, at a multiple of 4
// bytes; with lz4, which must be last, and none, nothing is stored.
func TestStoredSegments(t *testing.T) {
	dir := t.TempDir()
	storedPayload(t, filepath.Join(dir, "payload"))
	for _, comp := range []string{"zstd", "gzip", "xz", "zstd-cli", "gzip-cli", "xz-cli", "lz4", "none"} {
		t.Run(comp, func(t *testing.T) {
			_, segs := storedImage(t, dir, comp)
			m := storedSegment.FindStringSubmatch(segs)
			switch {
			case comp == "lz4" || comp == "none":
				if m != nil || strings.Count(segs, "\n") != 0 {
					t.Errorf("segments:\n%s\nwant one", segs)
				}
			case m == nil:
				t.Errorf("segments:\n%s\nwant a stored one of 3 entries between compressed ones", segs)
			default:
				var off int
				fmt.Sscan(m[1], &off)
				if off%4 != 0 {
					t.Errorf("the stored segment starts at %d, not a multiple of 4", off)
				}
			}
		})
	}
}

// TestBootStored boots an image with a stored segment after compressed
// ones with each segmented compressor: the guest must see every stored
// file whole.
func TestBootStored(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	dir := t.TempDir()
	want := "SUMS " + storedPayload(t, filepath.Join(dir, "payload")) + " END-SUMS"
	for _, comp := range []string{"zstd", "gzip", "xz", "zstd-cli", "gzip-cli", "xz-cli"} {
		t.Run(comp, func(t *testing.T) {
			if tool, ok := strings.CutSuffix(comp, "-cli"); ok {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skip(err)
				}
			}
			img, segs := storedImage(t, dir, comp)
			if storedSegment.FindString(segs) == "" {
				t.Fatalf("no stored segment:\n%s", segs)
			}
			log := vm{initrd: img, marker: "END-SUMS", timeout: 4 * time.Minute}.boot(t)
			if got := regexp.MustCompile(`SUMS [^\r\n]*END-SUMS`).FindString(log); got != want {
				t.Errorf("guest saw:\n  %s\nwant:\n  %s", got, want)
			}
		})
	}
}
