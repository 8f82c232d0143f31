package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// systemdExample is the manifest the README documents: Debian 12's
// systemd 252 as the initrd's init.
const systemdExample = "../examples/systemd-initrd.json"

// kernelVersion is the release of the kernel image kernel(t) boots:
// /boot/vmlinuz-VER.
func kernelVersion(t *testing.T) string {
	t.Helper()
	return strings.TrimPrefix(filepath.Base(kernel(t)), "vmlinuz-")
}

// systemdManifest writes the example manifest, whose "modules" section
// brings the kernel modules of the newest installed kernel (the one
// kernel(t) boots), with a drop-in that makes a failed boot power off at
// once, and returns its path.
func systemdManifest(t *testing.T, dir string) string {
	t.Helper()
	return withPoweroff(t, dir, systemdExample)
}

// withPoweroff writes the manifest at src into dir with a drop-in that
// makes a failed boot power off at once, and returns its path.
func withPoweroff(t *testing.T, dir, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	contents, _ := m["contents"].([]any)
	// A failed boot ends in emergency.target; power off there rather than
	// wait for the test's timeout.
	contents = append(contents, map[string]any{
		"target": "/etc/systemd/system/emergency.service.d/test-poweroff.conf",
		"text":   "[Service]\nExecStartPre=\nExecStart=\nExecStart=/usr/bin/systemctl --force --force poweroff\n",
	})
	m["contents"] = contents
	out, err := json.MarshalIndent(m, "", " ")
	must(t, err)
	p := filepath.Join(dir, "systemd-initrd.json")
	must(t, os.WriteFile(p, out, 0o644))
	return p
}

// rootMarker is what the root file system's /sbin/init prints, last on
// its line so that the whole line is on the console when it is seen.
const rootMarker = "ROOT-INIT-OK"

// rootDisk makes an ext4 image of a small busybox system whose /sbin/init
// prints rootMarker and powers off.
func rootDisk(t *testing.T, dir string) string {
	t.Helper()
	tree := filepath.Join(dir, "root")
	writeFiles(t, tree, map[string]string{
		"bin/sh":         "->busybox",
		"etc/os-release": "NAME=\"test root\"\nID=testroot\n",
		"sbin/init":      "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc 2>/dev/null\necho \"root init: pid=$$ fs=$(/bin/busybox stat -f -c %T /) by-label=$(/bin/busybox ls /dev/disk/by-label) " + rootMarker + "\"\n/bin/busybox poweroff -f\n",
		"dev/":           "", "proc/": "", "sys/": "", "run/": "", "tmp/": "",
	})
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	must(t, os.WriteFile(filepath.Join(tree, "bin/busybox"), bb, 0o755))
	must(t, os.Chmod(filepath.Join(tree, "sbin/init"), 0o755))
	img := filepath.Join(dir, "root.img")
	mustRun(t, "mkfs.ext4", "-q", "-F", "-L", "testroot", "-d", tree, img, "16M")
	return img
}

// TestBootSystemd boots the systemd example on Debian's kernel: systemd
// must reach initrd.target, mount the ext4 root from the virtio disk and
// switch root into it, whose /sbin/init then prints the marker.
func TestBootSystemd(t *testing.T) {
	dir := t.TempDir()
	bootSystemd(t, dir, systemdManifest(t, dir))
}

// bootSystemd builds a systemd initrd from manifest for the booted
// kernel, boots it on the ext4 root disk, and checks that the boot goes
// through each step to the root's init.
func bootSystemd(t *testing.T, dir, manifest string) {
	t.Helper()
	img := filepath.Join(dir, "initrd.img")
	// The manifest says zstd, and which modules; the version is the
	// booted kernel's.
	if r := run(t, nil, "-m", manifest, "-o", img, "--kernel-version", kernelVersion(t)); r.code != 0 {
		t.Fatalf("mkinitrd-ng: exit %d\n%s", r.code, r.stderr)
	}
	bootSystemdImage(t, dir, img)
}

// bootSystemdImage boots a systemd initrd on the ext4 root disk and
// checks that the boot goes through each step to the root's init.
func bootSystemdImage(t *testing.T, dir, img string) {
	t.Helper()
	log := bootRootDisk(t, dir, img)
	checkSteps(t, log, []string{
		"Found device dev-vda.device.",
		"Finished systemd-fsck-root.service.",
		"Mounted sysroot.mount.",
		"Reached target initrd.target.",
		"Reached target initrd-switch-root.target.",
		"Switching root.",
		"root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker})
	if !strings.Contains(log, "Finished systemd-modules-load.service.") {
		t.Errorf("systemd-modules-load.service did not finish; console log:\n%s", tail(log, 60))
	}
}

// bootRootDisk boots img with systemd's status on the console and the
// ext4 root disk as /dev/vda, until the root's init prints its marker,
// and returns the console log without colours.
func bootRootDisk(t *testing.T, dir, img string) string {
	t.Helper()
	disk := rootDisk(t, dir)
	log := vm{
		initrd: img,
		append: "root=/dev/vda systemd.show_status=1 systemd.status_unit_format=name systemd.log_target=console systemd.log_level=info",
		extra:  []string{"-drive", "file=" + disk + ",if=virtio,format=raw"},
		marker: rootMarker,
		// Under TCG systemd takes about 11 s to switch root; the margin
		// is for a loaded machine.
		timeout: 3 * time.Minute,
	}.boot(t)
	return ansi.ReplaceAllString(log, "")
}
