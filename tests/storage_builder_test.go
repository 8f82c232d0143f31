package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The storage boots need disks holding LUKS, LVM and md RAID, which only
// a kernel with device-mapper and md can write; the test machine's kernel
// may have neither. So a builder guest prepares them: Debian's kernel with
// an initrd that mkinitrd-ng makes of busybox, the storage tools and a
// script, booted with blank disk images and a disk holding the root's
// files. The prepared images are cached outside the repository, keyed by
// everything that makes them, and later boots attach them with
// snapshot=on, so a cached image is never written.

// builderModules are what any builder script may need: the controllers
// the stacks use, device-mapper with dm-crypt's cipher, md RAID1, the
// file systems the scripts make, and the TPM drivers.
var builderModules = []string{
	"virtio_pci", "virtio_blk", "virtio_scsi", "nvme", "ahci", "sd_mod",
	"dm_mod", "dm_crypt", "xts", "algif_skcipher", "md_mod", "raid1", "ext4", "xfs",
	"tpm_tis", "tpm_crb",
}

// builderPrograms are the builder's tools besides busybox.
var builderPrograms = []string{"cryptsetup", "lvm", "mdadm", "mkfs.ext4", "mkfs.xfs", "modprobe", "systemd-cryptenroll"}

// builderLibraries are what systemd-cryptenroll dlopens to talk to a TPM2.
var builderLibraries = []string{
	"/usr/lib/x86_64-linux-gnu/libtss2-esys.so.0", "/usr/lib/x86_64-linux-gnu/libtss2-rc.so.0",
	"/usr/lib/x86_64-linux-gnu/libtss2-mu.so.0", "/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0",
}

// builderPrologue starts every builder script: busybox's applets beside
// the real tools (busybox's shell prefers its applets, so kmod's modprobe
// is named by path), the kernel's file systems, the modules, and the root's
// files from the first virtio disk at /src. Device-mapper creates its own
// nodes (DM_DISABLE_UDEV), since no udev runs here. Any failing command
// powers off (the trace shows it last on the console), so the test fails
// at once with the console's last lines.
const builderPrologue = `#!/bin/busybox sh
/bin/busybox mkdir -p /bb
/bin/busybox --install -s /bb
export PATH=/usr/sbin:/usr/bin:/bb DM_DISABLE_UDEV=1
mkdir -p /proc /sys /dev /run/cryptsetup /src /mnt /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
trap 'echo "builder script failed: exit $?"; poweroff -f' EXIT
set -ex
/usr/sbin/modprobe -a $(grep -v '^#' /etc/modules-load.d/mkinitrd-ng.conf)
wait_dev() { n=0; while [ ! -e "$1" ]; do n=$((n+1)); [ $n -lt 100 ]; sleep 0.1; done; }
wait_dev /dev/vda
mount -t ext4 -o ro /dev/vda /src
`

// builderEpilogue flushes the disks, then prints builderMarker
// untraced: "set -x" would print it before the flush.
const builderEpilogue = `umount /src
sync
set +x
echo "disks prepared: PREPARED-OK"
poweroff -f
`

// builderMarker is the line the builder prints when its disks are ready.
const builderMarker = "PREPARED-OK"

// preparedDisks returns the images a builder script writes, made once
// and cached: n blank raw images of sizeMiB each, attached to the builder
// by attach(images), which must also attach the root's disk as the first
// virtio disk, /dev/vda.
func preparedDisks(t *testing.T, script string, sizeMiB []int64, attach func(images []string) []string) []string {
	t.Helper()
	dir := t.TempDir()
	root := rootDisk(t, dir)
	full := builderPrologue + script + builderEpilogue
	key := cacheKey(t, full, strings.Join(builderPrograms, " "), strings.Join(builderLibraries, " "),
		strings.Join(builderModules, " "), kernelVersion(t), treeHash(t, filepath.Join(dir, "root")))
	cache := filepath.Join(os.TempDir(), "mkinitrd-ng-storage-cache", key)
	images := make([]string, len(sizeMiB))
	for i := range sizeMiB {
		images[i] = filepath.Join(cache, fmt.Sprintf("disk%d.img", i))
	}
	if _, err := os.Stat(filepath.Join(cache, "done")); err == nil {
		t.Logf("prepared disks from the cache %s", cache)
		return images
	}
	work := cache + ".tmp"
	must(t, os.RemoveAll(work))
	must(t, os.MkdirAll(work, 0o755))
	// A failed builder leaves no half-made images behind; a good one's
	// work directory is the cache by then.
	defer os.RemoveAll(work)
	blank := make([]string, len(sizeMiB))
	for i, size := range sizeMiB {
		blank[i] = filepath.Join(work, filepath.Base(images[i]))
		must(t, os.WriteFile(blank[i], nil, 0o644))
		must(t, os.Truncate(blank[i], size<<20))
	}
	start := time.Now()
	vm{
		initrd:  builderInitrd(t, dir, full),
		append:  "no_timer_check",
		extra:   append([]string{"-drive", "file=" + root + ",if=virtio,format=raw,readonly=on"}, attach(blank)...),
		marker:  builderMarker,
		timeout: 4 * time.Minute,
	}.boot(t)
	must(t, os.WriteFile(filepath.Join(work, "done"), nil, 0o644))
	must(t, os.RemoveAll(cache))
	must(t, os.Rename(work, cache))
	t.Logf("prepared disks in %v, cached in %s", time.Since(start).Round(time.Second), cache)
	return images
}

// builderInitrd builds the builder's initrd, with script as /init.
func builderInitrd(t *testing.T, dir, script string) string {
	t.Helper()
	contents := []map[string]any{
		{"target": "/init", "mode": "0755", "text": script},
		{"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
		{"source": "/bin/busybox"},
		{"source": "/etc/mke2fs.conf"},
	}
	for _, p := range builderPrograms {
		contents = append(contents, map[string]any{"program": p})
	}
	for _, p := range builderLibraries {
		contents = append(contents, map[string]any{"source": p})
	}
	m, err := json.Marshal(map[string]any{
		"compress": "zstd",
		"contents": contents,
		"modules":  map[string]any{"load": builderModules},
	})
	must(t, err)
	manifest := filepath.Join(dir, "builder.json")
	must(t, os.WriteFile(manifest, m, 0o644))
	img := filepath.Join(dir, "builder.img")
	if r := run(t, nil, "-m", manifest, "-o", img, "--kernel-version", kernelVersion(t)); r.code != 0 {
		t.Fatalf("mkinitrd-ng (builder): exit %d\n%s", r.code, r.stderr)
	}
	return img
}

// cacheKey hashes the parts, each length-prefixed so that no two lists
// of parts give one key.
func cacheKey(t *testing.T, parts ...string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// treeHash hashes the names, modes, link texts and contents under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v\n", rel, info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			fmt.Fprintln(h, target)
			return err
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			h.Write(data)
			return err
		}
		return nil
	})
	must(t, err)
	return hex.EncodeToString(h.Sum(nil))
}
