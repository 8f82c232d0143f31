package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// storageFragments are the shipped fragments of storage stacks, each with
// the paths an image of base plus that fragment must hold: a name ending
// in ".ko" is a module found anywhere under the kernel's module
// directory, any other an exact path.
var storageFragments = []struct {
	name string
	want []string
}{
	// The kernel's request_module runs /sbin/modprobe.
	{"base", []string{"/sbin", "/usr/sbin/modprobe"}},
	{"keymap", []string{"/usr/bin/loadkeys", "/usr/bin/gzip", "/usr/bin/dash",
		"/etc/systemd/system/mkinitrd-ng-keymap.service", "/etc/systemd/system/sysinit.target.wants/mkinitrd-ng-keymap.service"}},
	{"dm", []string{"/sbin", "/usr/sbin/dmsetup", "/usr/lib/udev/rules.d/55-dm.rules",
		"/usr/lib/udev/rules.d/60-persistent-storage-dm.rules", "/usr/lib/udev/rules.d/95-dm-notify.rules",
		"dm-mod.ko"}},
	{"luks", []string{"/usr/lib/systemd/systemd-cryptsetup",
		"/usr/lib/systemd/system-generators/systemd-cryptsetup-generator",
		"/usr/lib/systemd/system/cryptsetup.target", "/usr/lib/systemd/system/cryptsetup-pre.target",
		"/usr/lib/systemd/system/systemd-ask-password-console.path",
		"/usr/lib/systemd/system/systemd-ask-password-console.service",
		"/etc/systemd/system/sysinit.target.wants/cryptsetup.target",
		"/etc/systemd/system/sysinit.target.wants/systemd-ask-password-console.path",
		"/usr/bin/systemd-ask-password", "/usr/bin/systemd-tty-ask-password-agent",
		"/usr/lib/x86_64-linux-gnu/libcryptsetup.so.12", "/usr/sbin/dmsetup",
		"dm-crypt.ko", "xts.ko", "algif_skcipher.ko", "aesni-intel.ko"}},
	{"tpm2", []string{"/usr/lib/x86_64-linux-gnu/libtss2-esys.so.0", "/usr/lib/x86_64-linux-gnu/libtss2-rc.so.0",
		"/usr/lib/x86_64-linux-gnu/libtss2-mu.so.0", "/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0",
		"/usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-systemd-tpm2.so",
		"/usr/lib/systemd/systemd-cryptsetup"}},
	{"lvm", []string{"/usr/sbin/lvm", "/usr/bin/systemd-run", "/etc/lvm/lvm.conf",
		"/usr/lib/udev/rules.d/56-lvm.rules", "/usr/lib/udev/rules.d/69-lvm.rules",
		"/usr/lib/udev/rules.d/55-dm.rules", "dm-snapshot.ko"}},
	{"mdraid", []string{"/usr/sbin/mdadm", "/etc/mdadm/mdadm.conf",
		"/usr/lib/udev/rules.d/63-md-raid-arrays.rules", "/usr/lib/udev/rules.d/64-md-raid-assembly.rules",
		"/usr/lib/systemd/system/mdadm-last-resort@.timer", "md-mod.ko", "raid1.ko", "raid456.ko"}},
	{"btrfs", []string{"/usr/sbin/fsck.btrfs", "/usr/lib/udev/rules.d/64-btrfs.rules", "btrfs.ko"}},
	{"xfs", []string{"/usr/sbin/fsck.xfs", "/usr/sbin/xfs_repair", "/usr/bin/dash", "xfs.ko"}},
	{"vfat", []string{"/usr/sbin/fsck.vfat", "/usr/sbin/fsck.fat", "vfat.ko", "fat.ko",
		"nls_cp437.ko", "nls_ascii.ko", "nls_iso8859-1.ko", "nls_utf8.ko"}},
	{"nvme", []string{"nvme.ko", "nvme-core.ko"}},
	{"ahci", []string{"/usr/lib/udev/ata_id", "/usr/lib/udev/scsi_id", "ahci.ko", "libahci.ko", "libata.ko", "sd_mod.ko"}},
	{"scsi", []string{"/usr/lib/udev/scsi_id", "sd_mod.ko", "sr_mod.ko", "scsi_mod.ko"}},
	{"usb-storage", []string{"usb-storage.ko", "uas.ko", "xhci-pci.ko", "ehci-pci.ko", "sd_mod.ko"}},
	{"keyboard", []string{"usbhid.ko", "hid-generic.ko", "hid.ko", "xhci-pci.ko"}},
}

// TestStorageFragments builds base plus each storage fragment with
// --dry-run for the booted kernel: it must succeed, hold the layer's key
// files, and warn about nothing that base alone does not.
func TestStorageFragments(t *testing.T) {
	kver := kernelVersion(t)
	dir := t.TempDir()
	_, baseWarnings := dryRunFragments(t, dir, kver, "base")
	for _, f := range storageFragments {
		t.Run(f.name, func(t *testing.T) {
			paths, warnings := dryRunFragments(t, dir, kver, "base", f.name)
			for _, w := range f.want {
				if !hasPath(paths, w) {
					t.Errorf("base + %s lacks %s", f.name, w)
				}
			}
			for _, w := range warnings {
				if !slices.Contains(baseWarnings, w) {
					t.Errorf("base + %s warns: %s", f.name, w)
				}
			}
		})
	}
}

// dryRunFragments lists, with --dry-run, the image of a manifest that
// includes these fragments, and returns its paths and warnings.
func dryRunFragments(t *testing.T, dir, kver string, include ...string) (paths, warnings []string) {
	t.Helper()
	m := filepath.Join(dir, strings.Join(include, "+")+".json")
	must(t, os.WriteFile(m, []byte(`{"followWants": false, "include": ["`+strings.Join(include, `", "`)+`"]}`), 0o644))
	r := run(t, nil, "-m", m, "--kernel-version", kver, "--dry-run")
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng --dry-run with %v: exit %d\n%s", include, r.code, r.stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if f := strings.Fields(l); len(f) >= 4 {
			paths = append(paths, f[3])
		}
	}
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "warning:") {
			warnings = append(warnings, l)
		}
	}
	return paths, warnings
}

// hasPath says whether paths hold want: a module by its file name under
// any directory, anything else exactly.
func hasPath(paths []string, want string) bool {
	if strings.HasSuffix(want, ".ko") {
		return slices.ContainsFunc(paths, func(p string) bool {
			return strings.HasPrefix(p, "/usr/lib/modules/") && strings.HasSuffix(p, "/"+want)
		})
	}
	return slices.Contains(paths, want)
}
