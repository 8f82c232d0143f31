package host

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/kmod"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// machine builds a tree that replays a machine's /proc, /sys, /dev and
// /etc, laid out as the kernel lays them out.
type machine struct {
	t   *testing.T
	dir string
}

func newMachine(t *testing.T) *machine { return &machine{t: t, dir: t.TempDir()} }

func (m *machine) file(p, content string) {
	m.t.Helper()
	full := filepath.Join(m.dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// link makes a symlink at p pointing to target, relative as sysfs's are.
func (m *machine) link(p, target string) {
	m.t.Helper()
	full := filepath.Join(m.dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		m.t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Dir(p), target)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := os.Symlink(rel, full); err != nil {
		m.t.Fatal(err)
	}
}

// mounts writes /proc/self/mountinfo from "devID point fstype source super" lines.
func (m *machine) mounts(lines ...string) {
	var b strings.Builder
	for i, l := range lines {
		f := strings.Fields(l)
		b.WriteString(strings.Join([]string{strconv.Itoa(20 + i), "1", f[0], "/", f[1], "rw", "-", f[2], f[3], f[4]}, " ") + "\n")
	}
	m.file("/proc/self/mountinfo", b.String())
}

// block makes a block device at the sysfs directory dir (under
// /sys/devices), numbered devID, and returns dir.
func (m *machine) block(dir, devID string) string {
	m.file(dir+"/dev", devID+"\n")
	m.link("/sys/dev/block/"+devID, dir)
	m.link("/sys/class/block/"+filepath.Base(dir), dir)
	return dir
}

// partition makes partition name of the disk at dir.
func (m *machine) partition(disk, name, devID string) string {
	p := m.block(disk+"/"+name, devID)
	m.file(p+"/partition", "1\n")
	return p
}

// driver binds a driver, from module (or built in when ""), to the
// device at dev, which has the modalias alias.
func (m *machine) driver(dev, bus, name, module, alias string) {
	drv := "/sys/bus/" + bus + "/drivers/" + name
	_, err := os.Lstat(filepath.Join(m.dir, drv))
	m.file(drv+"/uevent", "")
	if module != "" && err != nil {
		m.file("/sys/module/"+module+"/refcnt", "1\n")
		m.link(drv+"/module", "/sys/module/"+module)
	}
	m.link(dev+"/driver", drv)
	if alias != "" {
		m.file(dev+"/modalias", alias+"\n")
	}
}

// virtual makes a dm or md device made of the devices at slaves.
func (m *machine) virtual(name, devID string, attrs map[string]string, slaves ...string) string {
	dir := m.block("/sys/devices/virtual/block/"+name, devID)
	for k, v := range attrs {
		m.file(dir+"/"+k, v+"\n")
	}
	for _, s := range slaves {
		m.link(dir+"/slaves/"+filepath.Base(s), s)
	}
	return dir
}

// luksHeader writes a LUKS2 header with tokens of the given types.
func (m *machine) luksHeader(p string, tokens ...string) {
	json := `{"keyslots": {}, "tokens": {`
	for i, tok := range tokens {
		if i > 0 {
			json += ","
		}
		json += `"` + strconv.Itoa(i) + `": {"type": "` + tok + `", "keyslots": ["0"]}`
	}
	json += `}, "segments": {}, "digests": {}, "config": {}}`
	hdr := make([]byte, 16384)
	copy(hdr, luksMagic)
	binary.BigEndian.PutUint16(hdr[6:], 2)
	binary.BigEndian.PutUint64(hdr[8:], 16384)
	copy(hdr[4096:], json)
	m.file(p, string(hdr))
}

func (m *machine) fs() *rootfs.FS {
	m.t.Helper()
	fsys, err := rootfs.New(m.dir)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { fsys.Close() })
	return fsys
}

// buildRoot is a tree with the module indexes of this machine's newest
// kernel and an include.d holding every fragment the detection may name,
// so that what it proposes does not depend on which fragments ship.
func buildRoot(t *testing.T) (*rootfs.FS, string) {
	t.Helper()
	host, err := rootfs.New("/")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ver, err := kmod.DefaultKernelVersion(host)
	if err != nil {
		t.Skipf("no kernel modules on this machine (install linux-image-amd64): %v", err)
	}
	m := newMachine(t)
	src := "/lib/modules/" + ver
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "modules.") {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			m.file(src+"/"+e.Name(), string(data))
		}
	}
	for _, f := range []string{"base", "ext4", "xfs", "btrfs", "virtio", "nvme", "ahci", "luks", "lvm", "mdraid", "tpm2", "keyboard"} {
		m.file(resolve.IncludeDir+"/"+f+".json", "{}")
	}
	m.file("/lib/firmware/amd-ucode/microcode_amd_fam17h.bin", "x")
	return m.fs(), ver
}

// detect runs Detect on the machine with the build root.
func detect(t *testing.T, m *machine, generic bool) *Result {
	t.Helper()
	root, _ := buildRoot(t)
	r, err := Detect(m.fs(), Options{Root: root, Generic: generic})
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	return r
}

const pci = "/sys/devices/pci0000:00/"

// plainVirtio is this test machine's own layout: ext4 on a virtio disk
// whose drivers are built into the running kernel.
func plainVirtio(m *machine) {
	m.mounts("254:0 / ext4 /dev/vda rw")
	dev := pci + "0000:00:02.0/virtio1"
	m.block(dev+"/block/vda", "254:0")
	m.link(dev+"/block/vda/device", dev)
	m.driver(dev, "virtio", "virtio_blk", "", "virtio:d00000002v00001AF4")
	m.driver(pci+"0000:00:02.0", "pci", "virtio-pci", "", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00")
	m.file("/proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\n")
}

// luksLVMOnNVMe is LVM on LUKS2 on an NVMe partition, with a TPM2 token,
// a crypttab and a PS/2 keyboard.
func luksLVMOnNVMe(m *machine) {
	m.mounts("254:1 / xfs /dev/mapper/vg-root rw", "254:1 /home xfs /dev/mapper/vg-root rw")
	ctrl := pci + "0000:00:04.0"
	nvme0 := ctrl + "/nvme/nvme0"
	disk := m.block(nvme0+"/nvme0n1", "259:0")
	m.link(disk+"/device", nvme0)
	m.driver(ctrl, "pci", "nvme", "nvme", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02")
	m.partition(disk, "nvme0n1p1", "259:1")
	p2 := m.partition(disk, "nvme0n1p2", "259:2")
	crypt := m.virtual("dm-0", "254:0", map[string]string{"dm/uuid": "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-cryptroot", "dm/name": "cryptroot"}, p2)
	m.virtual("dm-1", "254:1", map[string]string{"dm/uuid": "LVM-abcd", "dm/name": "vg-root"}, crypt)
	m.luksHeader("/dev/nvme0n1p2", "systemd-tpm2")
	m.file("/etc/crypttab", "# <name> <device> <key> <options>\ncryptroot UUID=01234567-89ab-cdef-0123-456789abcdef none luks,discard\ndata UUID=ffff none luks\n")
	kbd := "/sys/devices/platform/i8042/serio0"
	m.driver(kbd, "serio", "atkbd", "", "serio:ty06pr00id00ex00")
	m.file(kbd+"/input/input0/capabilities/ev", "120013\n")
	m.file(kbd+"/input/input0/name", "AT Translated Set 2 keyboard\n")
	m.link(kbd+"/input/input0/device", kbd)
	m.link("/sys/class/input/input0", kbd+"/input/input0")
}

// raidOnAHCI is xfs on an md RAID1 of two SATA disks.
func raidOnAHCI(m *machine) {
	m.mounts("9:0 / xfs /dev/md0 rw")
	ctrl := pci + "0000:00:1f.2"
	m.driver(ctrl, "pci", "ahci", "ahci", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01")
	var parts []string
	for i, name := range []string{"sda", "sdb"} {
		n := strconv.Itoa(i)
		lun := ctrl + "/ata" + n + "/host" + n + "/target" + n + ":0:0/" + n + ":0:0:0"
		disk := m.block(lun+"/block/"+name, "8:"+strconv.Itoa(16*i))
		m.link(disk+"/device", lun)
		m.driver(lun, "scsi", "sd", "sd_mod", "scsi:t-0x00")
		parts = append(parts, m.partition(disk, name+"1", "8:"+strconv.Itoa(16*i+1)))
	}
	m.virtual("md0", "9:0", map[string]string{"md/level": "raid1"}, parts...)
}

// btrfsOnVirtioSCSI is a btrfs subvolume on a virtio-scsi disk: the
// mount's device number is an anonymous one.
func btrfsOnVirtioSCSI(m *machine) {
	m.mounts("0:33 / btrfs /dev/sdc rw,subvol=/@")
	hba := pci + "0000:00:03.0/virtio2"
	lun := hba + "/host2/target2:0:0/2:0:0:0"
	disk := m.block(lun+"/block/sdc", "8:32")
	m.link(disk+"/device", lun)
	m.file("/dev/sdc", "")
	m.driver(lun, "scsi", "sd", "sd_mod", "scsi:t-0x00")
	m.driver(hba, "virtio", "virtio_scsi", "virtio_scsi", "virtio:d00000008v00001AF4")
	m.driver(pci+"0000:00:03.0", "pci", "virtio-pci", "", "pci:v00001AF4d00001004sv00001AF4sd00000008bc01sc00i00")
}

// TestDetect: each machine's stack becomes the fragments and modules it
// needs, with the reasons explain prints.
func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		build     func(*machine)
		include   []string
		load      []string
		stack     string
		explain   []string
		microcode bool
	}{
		{"virtio", plainVirtio, []string{"base", "ext4", "virtio"}, nil, "vda", []string{
			"include ext4: / is ext4 on vda", "include virtio: controller of vda: driver virtio_blk: module virtio_blk",
			"include virtio: controller of vda: driver virtio-pci: module virtio_pci", "microcode: the CPU is AuthenticAMD"}, true},
		{"LUKS and LVM on NVMe", luksLVMOnNVMe, []string{"base", "keyboard", "luks", "lvm", "nvme", "tpm2", "xfs"}, nil,
			"dm-1 (vg-root) on dm-0 (LUKS2) on nvme0n1p2 on nvme0n1", []string{
				"include luks: dm-0 is LUKS2 encrypted (/ is xfs on dm-1 (vg-root) on dm-0 (LUKS2) on nvme0n1p2 on nvme0n1)",
				"include tpm2: a TPM2 token unlocks it", "/etc/crypttab: cryptroot: dm-0 is LUKS2 encrypted",
				"note: driver atkbd is built into kernel"}, false},
		{"RAID1 on AHCI", raidOnAHCI, []string{"ahci", "base", "mdraid", "xfs"}, []string{"raid1", "sd_mod"},
			"md0 (raid1) on [sda1 on sda, sdb1 on sdb]", []string{"include mdraid: md0 is an md raid1 array", "load raid1: the raid1 personality of md0"}, false},
		{"btrfs on virtio-scsi", btrfsOnVirtioSCSI, []string{"base", "btrfs", "virtio"}, []string{"sd_mod"}, "sdc",
			[]string{"include btrfs: / is btrfs on sdc, subvolume /@ (give rootflags=subvol=/@ on the kernel command line)",
				"include virtio: controller of sdc: driver virtio_scsi: module virtio_scsi"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			tc.build(m)
			r := detect(t, m, false)
			var load []string
			if r.Manifest.Modules != nil {
				load = r.Manifest.Modules.Load
			}
			if !slices.Equal(r.Manifest.Include, tc.include) || !slices.Equal(load, tc.load) || r.Manifest.Microcode != tc.microcode {
				t.Errorf("include %v, load %v, microcode %v; want %v, %v, %v", r.Manifest.Include, load, r.Manifest.Microcode, tc.include, tc.load, tc.microcode)
			}
			if len(r.Stacks) == 0 || r.Stacks[0].String() != tc.stack {
				t.Errorf("stacks %v, want %s first", r.Stacks, tc.stack)
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

// TestDetectCrypttab: the image's crypttab holds only the root's line,
// readable by root alone.
func TestDetectCrypttab(t *testing.T) {
	m := newMachine(t)
	luksLVMOnNVMe(m)
	r := detect(t, m, false)
	var got []string
	for _, c := range r.Manifest.Contents {
		if c.Target == "/etc/crypttab" {
			got = append(got, *c.Text, c.Mode)
		}
	}
	want := []string{"cryptroot UUID=01234567-89ab-cdef-0123-456789abcdef none luks,discard\n", "0600"}
	if !slices.Equal(got, want) {
		t.Errorf("crypttab %q, want %q", got, want)
	}
}

// TestDetectFails: a root whose block devices cannot be determined is an
// error naming what was not found, not a guess.
func TestDetectFails(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		build      func(*machine)
	}{
		{"tmpfs root", `cannot determine what / needs: / is tmpfs from "tmpfs", which is no block device`,
			func(m *machine) { m.mounts("0:25 / tmpfs tmpfs rw") }},
		{"no mounts", "cannot read the mounts", func(m *machine) {}},
		{"unknown device", "/ is on /dev/vdz, which /sys/class/block does not list", func(m *machine) { m.mounts("254:9 / ext4 /dev/vdz rw") }},
		{"md without slaves", "md0: md device with no slaves", func(m *machine) {
			m.mounts("9:0 / ext4 /dev/md0 rw")
			m.virtual("md0", "9:0", map[string]string{"md/level": "raid1"})
			m.file("/sys/devices/virtual/block/md0/slaves/.keep", "")
			os.Remove(filepath.Join(m.dir, "/sys/devices/virtual/block/md0/slaves/.keep"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			tc.build(m)
			root, _ := buildRoot(t)
			_, err := Detect(m.fs(), Options{Root: root})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDetectGeneric: a generic image proposes every layer, controller and
// file system, and every storage and file system module for udev.
func TestDetectGeneric(t *testing.T) {
	r := detect(t, newMachine(t), true)
	for _, want := range []string{"ahci", "base", "btrfs", "ext4", "keyboard", "luks", "lvm", "mdraid", "nvme", "virtio", "xfs"} {
		if !slices.Contains(r.Manifest.Include, want) {
			t.Errorf("include %v lacks %s", r.Manifest.Include, want)
		}
	}
	for _, mod := range []string{"nvme", "ahci", "xfs", "virtio_blk", "dm_crypt"} {
		if r.Manifest.Modules == nil || !slices.Contains(r.Manifest.Modules.Include, mod) {
			t.Errorf("modules.include lacks %s", mod)
		}
	}
}

// TestJSONStable: the manifest text has sorted keys, one item a line,
// and is the same on every run.
func TestJSONStable(t *testing.T) {
	m := newMachine(t)
	luksLVMOnNVMe(m)
	a, err := detect(t, m, false).JSON()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := detect(t, m, false).JSON()
	if string(a) != string(b) {
		t.Errorf("two runs differ:\n%s\n%s", a, b)
	}
	text := string(a)
	if !strings.HasPrefix(text, "{\n  \"compress\": \"zstd\",\n  \"contents\": [") || !strings.Contains(text, "\"include\": [\n    \"base\",\n    \"keyboard\",") {
		t.Errorf("not sorted, one item a line:\n%s", text)
	}
	if _, err := resolve.ParseManifest(strings.NewReader(text), "host.json"); err != nil {
		t.Errorf("the proposal is no valid manifest: %v", err)
	}
}

// TestDetectKeymap: a LUKS root on a machine whose keyboard layout is
// not US gets the keymap fragment and console-setup's compiled keymap;
// a US layout gets neither, and a layout with no compiled keymap a note.
func TestDetectKeymap(t *testing.T) {
	for _, tc := range []struct {
		name, layout, cached string
		want                 bool
		note                 string
	}{
		{"german", `XKBMODEL="pc105"` + "\nXKBLAYOUT=\"de\"\n", "cached_UTF-8_del.kmap.gz", true, ""},
		{"us", "XKBLAYOUT=us\n", "cached_UTF-8_del.kmap.gz", false, ""},
		{"not compiled", "XKBLAYOUT='fr'\n", "", false, "the keyboard layout is fr, but there is no /etc/console-setup/cached_*.kmap.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			luksLVMOnNVMe(m)
			m.file("/etc/default/keyboard", tc.layout)
			if tc.cached != "" {
				m.file("/etc/console-setup/"+tc.cached, "kmap")
			}
			r := detect(t, m, false)
			got := slices.Contains(r.Manifest.Include, "keymap")
			copied := slices.ContainsFunc(r.Manifest.Contents, func(c resolve.Content) bool {
				return c.Source == "/etc/console-setup/"+tc.cached && c.Target == keymapTarget
			})
			if got != tc.want || copied != tc.want {
				t.Errorf("keymap included %v, copied %v; want %v:\n%s", got, copied, tc.want, r.Explain())
			}
			if tc.note != "" && !strings.Contains(r.Explain(), tc.note) {
				t.Errorf("no note %q:\n%s", tc.note, r.Explain())
			}
		})
	}
}
