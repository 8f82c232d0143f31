package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/fixture"
)

// TestHostBoots: what `mkinitrd-ng host` proposes for this machine (ext4
// on a virtio disk) builds an image that boots Debian's kernel on an
// equivalent disk to the root's init.
func TestHostBoots(t *testing.T) {
	dir := t.TempDir()
	proposal := filepath.Join(dir, "host.json")
	r := run(t, nil, "host", "-o", proposal, "--kernel-version", kernelVersion(t), "--explain")
	if r.code != 0 {
		t.Fatalf("host: exit %d\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(proposal)
	must(t, err)
	for _, want := range []string{`"base"`, `"ext4"`, `"virtio"`} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("this machine's root is ext4 on virtio, but host proposes:\n%s\nbecause:\n%s", data, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "include ext4: / is ext4 on vda") {
		t.Errorf("--explain does not say why ext4 is there:\n%s", r.stderr)
	}
	bootSystemd(t, dir, withPoweroff(t, dir, proposal))
}

// TestHostFails: a sysroot whose root cannot be resolved gives no
// manifest, an error naming what is missing, and exit status 1.
func TestHostFails(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"proc/self/mountinfo": "20 1 0:25 / / rw - tmpfs tmpfs rw\n"})
	out := filepath.Join(dir, "host.json")
	r := run(t, nil, "host", "--sysroot", dir, "--root", "/", "-o", out)
	if r.code != 1 || !strings.Contains(r.stderr, `/ is tmpfs from "tmpfs", which is no block device`) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a manifest was written")
	}
}

// TestCaptureReplaysHost: tests/capture's record of this machine,
// replayed with --sysroot, gives the proposal `host` gives on the
// machine itself, so what the storage guests capture is what host reads.
func TestCaptureReplaysHost(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "machine.tar")
	mustRun(t, buildCapture(t), "--to", archive)
	f, err := os.Open(archive)
	must(t, err)
	defer f.Close()
	sysroot := filepath.Join(dir, "sysroot")
	must(t, fixture.Untar(f, sysroot))
	live := run(t, nil, "host", "--kernel-version", kernelVersion(t), "--explain")
	replay := run(t, nil, "host", "--sysroot", sysroot, "--root", "/", "--kernel-version", kernelVersion(t), "--explain")
	if live.code != 0 || replay.code != 0 {
		t.Fatalf("host: exit %d, replayed: exit %d\n%s\n%s", live.code, replay.code, live.stderr, replay.stderr)
	}
	if live.stdout != replay.stdout || live.stderr != replay.stderr {
		t.Errorf("the machine proposes\n%s%s\nits capture\n%s%s", live.stdout, live.stderr, replay.stdout, replay.stderr)
	}
}
