package host

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/fixture"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// capturedMachine unpacks testdata/NAME.tar.gz, a machine that
// tests/capture recorded from a QEMU guest booted on one of the storage
// tests' disks (MKINITRD_NG_CAPTURE_OUT=DIR make test-storage writes
// them anew).
func capturedMachine(t *testing.T, name string) *rootfs.FS {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := fixture.Untar(zr, dir); err != nil {
		t.Fatal(err)
	}
	fsys, err := rootfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// TestDetectCaptured: the machines captured from guests booted on the
// storage stacks propose the fragments and modules whose images boot
// those stacks (TestStorageBootHost boots them), for the reasons given.
func TestDetectCaptured(t *testing.T) {
	for _, tc := range []struct {
		name    string
		include []string
		load    []string
		stack   string
		explain []string
	}{
		{"ext4-virtio", []string{"base", "ext4", "virtio"}, nil, "vdb", []string{
			"include virtio: controller of vdb: driver virtio_blk: module virtio_blk"}},
		{"lvm-luks-nvme", []string{"base", "ext4", "keyboard", "luks", "lvm", "nvme"}, nil,
			"dm-1 (vgtest-root) on dm-0 (LUKS2) on nvme0n1", []string{
				"include nvme: controller of nvme0n1: driver nvme: module nvme",
				"/etc/crypttab: cryptlvm: dm-0 is LUKS2 encrypted",
				"note: driver atkbd is built into kernel"}},
		{"luks-tpm2", []string{"base", "ext4", "keyboard", "luks", "tpm2", "virtio"}, nil, "dm-0 (LUKS2) on vdb", []string{
			"include tpm2: a TPM2 token unlocks it: dm-0 is LUKS2 encrypted", "/etc/crypttab: cryptroot"}},
		{"mdraid1-xfs-ahci", []string{"ahci", "base", "mdraid", "xfs"}, []string{"raid1", "sd_mod"},
			"md127 (raid1) on [sda, sdb]", []string{"include ahci: controller of sdb: driver ahci: module ahci",
				"load raid1: the raid1 personality of md127"}},
		{"btrfs-virtio-scsi", []string{"base", "btrfs", "virtio"}, []string{"sd_mod"}, "sda", []string{
			"include btrfs: / is btrfs on sda\n", "include virtio: controller of sda: driver virtio_scsi: module virtio_scsi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := buildRoot(t)
			r, err := Detect(capturedMachine(t, tc.name), Options{Root: root})
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			var load []string
			if r.Manifest.Modules != nil {
				load = r.Manifest.Modules.Load
			}
			if !slices.Equal(r.Manifest.Include, tc.include) || !slices.Equal(load, tc.load) {
				t.Errorf("include %q, load %q; want %q, %q", r.Manifest.Include, load, tc.include, tc.load)
			}
			if len(r.Stacks) != 1 || r.Stacks[0].String() != tc.stack {
				t.Errorf("stacks %v, want %s", r.Stacks, tc.stack)
			}
			explain := r.Explain()
			for _, want := range tc.explain {
				if !strings.Contains(explain, want) {
					t.Errorf("explanation lacks %q:\n%s", want, explain)
				}
			}
		})
	}
}
