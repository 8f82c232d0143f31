package tests

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFullDisk: a build that runs out of space fails naming the output,
// removes its temporary file and leaves the old image as it was.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root (CI runs as root)")
	}
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", small).Run()
	root := t.TempDir()
	big := make([]byte, 1<<20)
	rand.Read(big)
	must(t, os.WriteFile(filepath.Join(root, "big"), big, 0o644))
	m := filepath.Join(t.TempDir(), "m.json")
	must(t, os.WriteFile(m, []byte(`{"contents": [{"source": "/big"}]}`), 0o644))
	out := filepath.Join(small, "initrd.img")
	must(t, os.WriteFile(out, []byte("OLD"), 0o644))
	r := run(t, nil, "-m", m, "--root", root, "-o", out)
	checkFailure(t, r, 1, []string{"no space left on device"})
	if data, _ := os.ReadFile(out); string(data) != "OLD" {
		t.Errorf("the old image was changed")
	}
	if entries, _ := os.ReadDir(small); len(entries) != 1 {
		t.Errorf("left behind in the full filesystem: %v", entries)
	}
}

// TestConcurrentRuns: two builds writing one output at once each leave a
// complete image.
func TestConcurrentRuns(t *testing.T) {
	root := fixtureRoot(t)
	want := buildFixture(t, root, nil, "-c", "gzip")
	dir := t.TempDir()
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(fixtureManifest), 0o644))
	out := filepath.Join(dir, "initrd.img")
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = run(t, nil, "-m", m, "--root", root, "-o", out, "-c", "gzip")
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if r.code != 0 {
			t.Errorf("a concurrent run failed: %s", r.stderr)
		}
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Errorf("the output after concurrent runs is not the complete image (%d bytes, want %d)", len(got), len(want))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestSignalRemovesTemporary: SIGTERM during a build removes the
// temporary file, exits 143 and leaves the old image.
func TestSignalRemovesTemporary(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			m := filepath.Join(dir, "m.json")
			must(t, os.WriteFile(m, []byte(`{"contents": [{"target": "/a", "text": "x"}]}`), 0o644))
			out := filepath.Join(dir, "initrd.img")
			must(t, os.WriteFile(out, []byte("OLD"), 0o644))
			cmd := exec.Command(exe, "-m", m, "-o", out, "-c", "cmd:sh -c 'sleep 30; cat'")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			must(t, cmd.Start())
			waitFor(t, func() bool { return countTemps(dir) == 1 })
			time.Sleep(100 * time.Millisecond) // the handler is installed before the temp file exists
			must(t, cmd.Process.Signal(sig))
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 128+int(sig) {
				t.Errorf("exit = %v, want status %d", err, 128+int(sig))
			}
			if countTemps(dir) != 0 {
				t.Error("the temporary file was left behind")
			}
			if data, _ := os.ReadFile(out); string(data) != "OLD" {
				t.Error("the old image was changed")
			}
			if !strings.Contains(stderr.String(), "left unchanged") {
				t.Errorf("stderr = %q", stderr.String())
			}
		})
	}
}

func countTemps(dir string) int {
	matches, _ := filepath.Glob(filepath.Join(dir, ".initrd.img.tmp-*"))
	return len(matches)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
