package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
