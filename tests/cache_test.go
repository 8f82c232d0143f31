package tests

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// cacheRoot makes a tree of 2 MB in files of a few KiB to 64 KiB, and the
// manifest that copies it, for builds cut into 64 KiB segments.
func cacheRoot(t *testing.T) (root, manifest string) {
	t.Helper()
	root = t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100 {
		data := make([]byte, 2000+rng.IntN(40_000))
		for j := range data {
			data[j] = "abcdefgh\n"[rng.IntN(9)]
		}
		p := filepath.Join(root, fmt.Sprintf("data/d%d/f%03d", i%4, i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
	}
	manifest = filepath.Join(t.TempDir(), "m.json")
	must(t, os.WriteFile(manifest, []byte(`{"contents": [{"source": "/data"}]}`), 0o644))
	return root, manifest
}

// buildCached builds with args and returns the image and stderr.
func buildCached(t *testing.T, root, manifest string, args ...string) ([]byte, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "initrd.img")
	r := run(t, nil, append([]string{"-m", manifest, "--root", root, "-o", out, "--segment-size", "64K", "-v"}, args...)...)
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng %v: exit %d\n%s", args, r.code, r.stderr)
	}
	img, err := os.ReadFile(out)
	must(t, err)
	return img, r.stderr
}

var copiedRE = regexp.MustCompile(`cache: (\d+) of (\d+) compressed segments copied`)

// copied returns what -v says the cache gave: segments copied, and all.
func copied(t *testing.T, stderr string) (n, of int) {
	t.Helper()
	m := copiedRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no cache line in:\n%s", stderr)
	}
	fmt.Sscan(m[1], &n)
	fmt.Sscan(m[2], &of)
	return n, of
}

// TestCacheByteIdentical: with --cache, the image is the one a build
// without it writes, whether the segments are compressed or copied; a
// rebuild copies every segment. The tree holds busybox, x86 code, which
// xz-cli compresses with a filter.
func TestCacheByteIdentical(t *testing.T) {
	root, manifest := cacheRoot(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	must(t, os.WriteFile(filepath.Join(root, "data/busybox"), bb, 0o755))
	for _, comp := range []string{"zstd", "xz", "gzip", "zstd-cli", "xz-cli"} {
		t.Run(comp, func(t *testing.T) {
			if tool, ok := strings.CutSuffix(comp, "-cli"); ok {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skip(err)
				}
			}
			cache := t.TempDir()
			want, _ := buildCached(t, root, manifest, "-c", comp)
			if comp == "xz-cli" {
				img := filepath.Join(t.TempDir(), "initrd.img")
				must(t, os.WriteFile(img, want, 0o644))
				if f := xzFilters(t, img); !slices.ContainsFunc(f, func(s string) bool { return strings.HasPrefix(s, "--x86") }) {
					t.Errorf("blocks' filters %q, want one with the x86 filter", f)
				}
			}
			for i, wantCopied := range []bool{false, true} {
				img, stderr := buildCached(t, root, manifest, "-c", comp, "--cache", cache)
				if !bytes.Equal(img, want) {
					t.Errorf("build %d with --cache: %d bytes that differ from the %d without", i+1, len(img), len(want))
				}
				if n, of := copied(t, stderr); of < 10 || (n == of) != wantCopied || (n == 0) == wantCopied {
					t.Errorf("build %d: %d of %d segments copied", i+1, n, of)
				}
				if strings.Contains(stderr, "warning") {
					t.Errorf("build %d: %s", i+1, stderr)
				}
			}
		})
	}
}

// TestCacheConcurrent: builds that share one cache at once all write the
// image of a build without it, and leave no temporary file behind.
func TestCacheConcurrent(t *testing.T) {
	root, manifest := cacheRoot(t)
	want, _ := buildCached(t, root, manifest, "-c", "zstd")
	cache := t.TempDir()
	var wg sync.WaitGroup
	imgs := make([][]byte, 6)
	errs := make([]string, 6)
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(t.TempDir(), "initrd.img")
			r := runCmd(t, nil, nil, exe, "-m", manifest, "--root", root, "-o", out, "--segment-size", "64K", "-c", "zstd", "--cache", cache, "-j", "1")
			if r.code != 0 || r.stderr != "" {
				errs[i] = fmt.Sprintf("exit %d: %s", r.code, r.stderr)
			}
			imgs[i], _ = os.ReadFile(out)
		}()
	}
	wg.Wait()
	for i := range imgs {
		if errs[i] != "" || !bytes.Equal(imgs[i], want) {
			t.Errorf("build %d: %s; same image: %v", i, errs[i], bytes.Equal(imgs[i], want))
		}
	}
	temps, _ := filepath.Glob(filepath.Join(cache, "*", ".tmp-*"))
	if len(temps) != 0 {
		t.Errorf("temporary files left: %v", temps)
	}
	if _, stderr := buildCached(t, root, manifest, "-c", "zstd", "--cache", cache); !strings.Contains(stderr, "cache: ") {
		t.Fatal(stderr)
	} else if n, of := copied(t, stderr); n != of {
		t.Errorf("after the concurrent builds, %d of %d segments copied", n, of)
	}
}

// TestCacheCorruptEntry: a damaged entry is never copied: the build
// warns, compresses the segment again and writes the same image.
func TestCacheCorruptEntry(t *testing.T) {
	root, manifest := cacheRoot(t)
	cache := t.TempDir()
	want, _ := buildCached(t, root, manifest, "-c", "zstd-cli", "--cache", cache)
	entries, _ := filepath.Glob(filepath.Join(cache, "*", "seg-*"))
	if len(entries) < 10 {
		t.Fatalf("%d entries in the cache", len(entries))
	}
	b, err := os.ReadFile(entries[3])
	must(t, err)
	b[len(b)/2] ^= 1
	must(t, os.WriteFile(entries[3], b, 0o600))
	img, stderr := buildCached(t, root, manifest, "-c", "zstd-cli", "--cache", cache)
	if !bytes.Equal(img, want) {
		t.Error("the image differs")
	}
	if !strings.Contains(stderr, "warning: cache: "+entries[3]+": corrupt entry") {
		t.Errorf("no warning of the corrupt entry:\n%s", stderr)
	}
	if n, of := copied(t, stderr); n != of-1 {
		t.Errorf("%d of %d segments copied, want all but the corrupt one", n, of)
	}
}

// TestCacheMax: --cache-max evicts down to its size; its errors are
// usage errors.
func TestCacheMax(t *testing.T) {
	root, manifest := cacheRoot(t)
	cache := t.TempDir()
	buildCached(t, root, manifest, "-c", "zstd", "--cache", cache, "--cache-max", "64K")
	var total int64
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*"))
	for _, f := range files {
		fi, err := os.Stat(f)
		must(t, err)
		total += fi.Size()
	}
	if total > 64<<10 || len(files) == 0 {
		t.Errorf("%d files of %d bytes in all, want some, within 64 KiB", len(files), total)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--cache-max", "1G"}, "--cache-max needs --cache"},
		{[]string{"--cache", cache, "--cache-max", "lots"}, `--cache-max: "lots"`},
	} {
		r := run(t, nil, append([]string{"-m", manifest, "--root", root, "-o", filepath.Join(t.TempDir(), "x")}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, %s; want exit 2 saying %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// TestCacheStored: files stored uncompressed sit beside cached segments:
// a rebuild copies every compressed segment and writes the same image.
func TestCacheStored(t *testing.T) {
	dir := t.TempDir()
	storedPayload(t, filepath.Join(dir, "payload"))
	manifest := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(manifest, []byte(fmt.Sprintf(`{"contents": [{"source": %q, "target": "/payload"}]}`, filepath.Join(dir, "payload"))), 0o644))
	cache := t.TempDir()
	want, _ := buildCached(t, "/", manifest, "-c", "xz")
	for i := range 2 {
		img, stderr := buildCached(t, "/", manifest, "-c", "xz", "--cache", cache)
		if !bytes.Equal(img, want) {
			t.Errorf("build %d: the image differs", i+1)
		}
		if n, of := copied(t, stderr); (n == of) != (i == 1) {
			t.Errorf("build %d: %d of %d compressed segments copied", i+1, n, of)
		}
	}
}
