package tests

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// parallelInit prints checksums of the payload: the big file, all small
// files together, and the last file in archive order, so that a segment
// the kernel skipped or mangled shows.
const parallelInit = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
set -- $(/bin/busybox md5sum /payload/big)
big=$1
set -- $(/bin/busybox cat /payload/small/* | /bin/busybox md5sum)
small=$1
/bin/busybox echo "SUMS big=$big small=$small last=$(/bin/busybox cat /payload/z-last) END-SUMS"
/bin/busybox poweroff -f
`

// TestBootSegmented boots images compressed in many small segments (and,
// for lz4, several legacy blocks) and checks in the guest that every byte
// of the payload arrived: the kernel must unpack every segment.
func TestBootSegmented(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	dir := t.TempDir()
	payload := filepath.Join(dir, "payload")
	must(t, os.MkdirAll(filepath.Join(payload, "small"), 0o755))

	// 9 MiB: one segment streamed through its worker, two 8 MiB lz4 blocks;
	// the small files make a dozen 64 KiB segments.
	rng := rand.New(rand.NewPCG(42, 1))
	big := make([]byte, 9<<20)
	for i := 0; i < len(big); i += 4096 {
		if rng.IntN(3) == 0 { // incompressible pages among repetitive ones
			for j := i; j < min(i+4096, len(big)); j++ {
				big[j] = byte(rng.Uint32())
			}
		} else {
			copy(big[i:], fmt.Sprintf("page %d of the payload\n", i/4096))
		}
	}
	must(t, os.WriteFile(filepath.Join(payload, "big"), big, 0o644))
	var small []byte
	for i := range 300 {
		text := strings.Repeat(fmt.Sprintf("small file %d line\n", i), 1+rng.IntN(200))
		small = append(small, text...)
		must(t, os.WriteFile(filepath.Join(payload, "small", fmt.Sprintf("f%03d", i)), []byte(text), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(payload, "z-last"), []byte("LAST-OK"), 0o644))
	sum := func(b []byte) string { h := md5.Sum(b); return hex.EncodeToString(h[:]) }
	want := fmt.Sprintf("SUMS big=%s small=%s last=LAST-OK END-SUMS", sum(big), sum(small))

	m := filepath.Join(dir, "initrd.json")
	manifest := fmt.Sprintf(`{"contents": [
 {"target": "/init", "mode": "0755", "text": %q},
 {"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
 {"target": "/proc", "type": "dir"},
 {"source": %q, "target": "/payload"}
]}`, parallelInit, payload)
	must(t, os.WriteFile(m, []byte(manifest), 0o644))

	// "name:level" runs a level other than the default: xz-cli's max is
	// xz's preset 9, with the binary-tree search the default does not use.
	for _, name := range []string{"zstd", "gzip", "xz", "lz4", "zstd-cli", "xz-cli", "xz-cli:max"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			comp, level, _ := strings.Cut(name, ":")
			flags := []string{"-m", m, "-c", comp, "--segment-size", "64K"}
			if level != "" {
				flags = append(flags, "--level", level)
			}
			img := filepath.Join(dir, "initrd-"+comp+level)
			if r := run(t, nil, append(flags, "-o", img)...); r.code != 0 {
				t.Fatalf("mkinitrd-ng: %s", r.stderr)
			}
			// The same image whatever the number of jobs.
			img1 := img + ".j1"
			if r := run(t, nil, append(flags, "-o", img1, "-j", "1")...); r.code != 0 {
				t.Fatalf("mkinitrd-ng -j 1: %s", r.stderr)
			}
			a, err := os.ReadFile(img)
			must(t, err)
			b, err := os.ReadFile(img1)
			must(t, err)
			if string(a) != string(b) {
				t.Errorf("-j 1 gives a different image (%d vs %d bytes)", len(b), len(a))
			}
			if n := streams(a, comp); comp != "lz4" && n < 10 {
				t.Errorf("%d compressed streams in the image, want at least 10 (segment size 64K)", n)
			}
			log := vm{initrd: img, marker: "END-SUMS", timeout: 4 * time.Minute}.boot(t)
			got := regexp.MustCompile(`SUMS [^\r\n]*END-SUMS`).FindString(log)
			if got != want {
				t.Errorf("guest saw:\n  %s\nwant:\n  %s", got, want)
			}
		})
	}
}

// streams counts the compressed streams of an image by their magic
// numbers: a rough count (the magic may occur inside compressed data), but
// enough to see that the image was segmented.
func streams(img []byte, comp string) int {
	magic := map[string]string{
		"zstd": "\x28\xb5\x2f\xfd", "zstd-cli": "\x28\xb5\x2f\xfd",
		"xz": "\xfd7zXZ\x00", "xz-cli": "\xfd7zXZ\x00",
		"gzip": "\x1f\x8b\x08\x00\x00\x00\x00\x00", "lz4": "\x02\x21\x4c\x18",
	}[comp]
	return strings.Count(string(img), magic)
}
