package tests

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/fixture"
)

// hostStack is a storage stack whose booted machine is captured and
// replayed to `mkinitrd-ng host`.
type hostStack struct {
	stack   storageStack
	include []string // the fragments host must propose
	load    []string // the modules it must load besides the fragments'
}

// hostStacks are the machines TestStorageBootHost captures. The LUKS
// volume of the LVM stack is unlocked by a typed passphrase, as on a
// laptop: its crypttab names no key file, which would have to be on the
// build root.
func hostStacks(t *testing.T) []hostStack {
	lvm := stackNamed(t, "lvm-luks-nvme")
	lvm.files = map[string]string{"/etc/crypttab": "cryptlvm UUID=" + lvmLUKSUUID + " none luks\n"}
	lvm.answer = luksPassword
	plain := storageStack{
		name: "ext4-virtio", include: []string{"virtio", "ext4"},
		disks: plainDisk, attach: virtioDisks,
		append: "root=LABEL=testroot",
		steps:  []string{"Mounted sysroot.mount.", "Switching root.", "root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	}
	return []hostStack{
		{stack: plain, include: []string{"base", "ext4", "virtio"}},
		{stack: lvm, include: []string{"base", "ext4", "keyboard", "luks", "lvm", "nvme"}},
		{stack: stackNamed(t, "luks-tpm2"), include: []string{"base", "ext4", "keyboard", "luks", "tpm2", "virtio"}},
		{stack: stackNamed(t, "mdraid1-xfs-ahci"), include: []string{"ahci", "base", "mdraid", "xfs"}, load: []string{"raid1", "sd_mod"}},
		{stack: stackNamed(t, "btrfs-virtio-scsi"), include: []string{"base", "btrfs", "virtio"}, load: []string{"sd_mod"}},
	}
}

// TestStorageBootHost captures each stack's machine from inside a guest
// booted on it (tests/capture), replays the capture to `mkinitrd-ng
// host`, checks the proposal, and boots the proposal's image on the
// same disks to the root's init.
func TestStorageBootHost(t *testing.T) {
	storageBoots(t)
	capture := buildCapture(t)
	for _, h := range hostStacks(t) {
		t.Run(h.stack.name, func(t *testing.T) {
			images := h.stack.disks(t)
			fixture := captureMachine(t, h.stack, capture, images)
			proposal := filepath.Join(t.TempDir(), "host.json")
			r := run(t, nil, "host", "--sysroot", fixture, "--root", "/", "--kernel-version", kernelVersion(t), "-o", proposal, "--explain")
			if r.code != 0 {
				t.Fatalf("host: exit %d\n%s", r.code, r.stderr)
			}
			checkProposal(t, proposal, h, r.stderr)
			dir := t.TempDir()
			img := filepath.Join(dir, "initrd.img")
			if r := run(t, nil, "-m", withPoweroff(t, dir, proposal), "-o", img, "--kernel-version", kernelVersion(t)); r.code != 0 {
				t.Fatalf("mkinitrd-ng: exit %d\n%s", r.code, r.stderr)
			}
			checkSteps(t, h.stack.run(t, h.stack.vm(t, img, images)), h.stack.steps)
		})
	}
}

// buildCapture builds tests/capture, static, for the guests.
func buildCapture(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "capture")
	cmd := exec.Command("go", "build", "-o", p, "./capture")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./capture: %v\n%s", err, out)
	}
	return p
}

// checkProposal checks that host proposed the stack's fragments and
// modules.
func checkProposal(t *testing.T, proposal string, h hostStack, explain string) {
	t.Helper()
	data, err := os.ReadFile(proposal)
	must(t, err)
	var m struct {
		Include []string
		Modules struct{ Load []string }
	}
	must(t, json.Unmarshal(data, &m))
	if !slices.Equal(m.Include, h.include) || !slices.Equal(m.Modules.Load, h.load) {
		t.Fatalf("host proposes include %q, load %q; want %q, %q:\n%s", m.Include, m.Modules.Load, h.include, h.load, explain)
	}
	t.Logf("host's explanation:\n%s", explain)
}

// captureMachine boots the stack's initrd with the capture program
// staged for the root and the capture disk attached, and returns the
// directory the captured machine is unpacked in.
func captureMachine(t *testing.T, s storageStack, capture string, images []string) string {
	t.Helper()
	// systemd switches only to an init that is on the root, so the
	// capture program is staged there once the root is mounted,
	// writable ("rw"; the disks are snapshots).
	const staged = "/mkinitrd-ng-capture.d"
	unit := "[Unit]\nDescription=Stage the machine's capture on the root\nDefaultDependencies=no\n" +
		"After=initrd-root-fs.target\nBefore=initrd.target\n\n" +
		"[Service]\nType=oneshot\nStandardError=journal+console\nExecStart=/usr/libexec/mkinitrd-ng-capture --stage /sysroot" + staged + "\n"
	s.include = append(slices.Clone(s.include), "virtio")
	s.extra = []any{
		map[string]any{"source": capture, "target": "/usr/libexec/mkinitrd-ng-capture", "mode": "0755"},
		map[string]any{"target": "/etc/systemd/system/mkinitrd-ng-capture.service", "text": unit},
		map[string]any{"target": "/etc/systemd/system/initrd.target.wants/mkinitrd-ng-capture.service", "symlink": "../mkinitrd-ng-capture.service"},
	}
	s.append += " rw init=" + staged + "/capture"
	disk := filepath.Join(t.TempDir(), "capture.img")
	must(t, os.WriteFile(disk, nil, 0o644))
	must(t, os.Truncate(disk, 8<<20))
	v := s.vm(t, s.initrd(t), images)
	v.extra = append(v.extra, "-drive", "file="+disk+",if=none,id=capture,format=raw",
		"-device", "virtio-blk-pci,drive=capture,serial=mkinitrd-capture")
	if log := s.run(t, v); !strings.Contains(log, "CAPTURED-OK") {
		t.Fatalf("the root's capture did not finish; last console lines:\n%s", tail(log, 40))
	}
	if out := os.Getenv("MKINITRD_NG_CAPTURE_OUT"); out != "" {
		keepCapture(t, disk, filepath.Join(out, s.name+".tar.gz"))
	}
	f, err := os.Open(disk)
	must(t, err)
	defer f.Close()
	dir := t.TempDir()
	must(t, fixture.Untar(f, dir))
	return dir
}

// keepCapture copies the archive on the capture disk to out, gzipped,
// for replaying in the host package's tests (host/testdata).
func keepCapture(t *testing.T, disk, out string) {
	t.Helper()
	f, err := os.Open(disk)
	must(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	o, err := os.Create(out)
	must(t, err)
	defer o.Close()
	zw := gzip.NewWriter(o)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		must(t, tw.WriteHeader(h))
		_, err = io.Copy(tw, tr)
		must(t, err)
	}
	must(t, tw.Close())
	must(t, zw.Close())
	t.Logf("capture kept in %s", out)
}
