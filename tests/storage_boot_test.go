package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The secrets and identifiers of the prepared disks. Fixed UUIDs let the
// kernel command line and crypttab name the disks before they exist.
const (
	luksUUID     = "6b1d7c3e-0c1a-4d55-9a8e-2f0e4b7c1a01"
	lvmLUKSUUID  = "6b1d7c3e-0c1a-4d55-9a8e-2f0e4b7c1a02"
	raidXFSUUID  = "6b1d7c3e-0c1a-4d55-9a8e-2f0e4b7c1a03"
	btrfsUUID    = "6b1d7c3e-0c1a-4d55-9a8e-2f0e4b7c1a04"
	tpmLUKSUUID  = "6b1d7c3e-0c1a-4d55-9a8e-2f0e4b7c1a05"
	luksPassword = "correct horse battery staple"
	// luksKey is the key file's content, in a key slot of its own: the
	// key-file boot proves the key file, not the passphrase.
	luksKey = "a key file, never typed: 0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

// luksFormatFlags keep key derivation cheap under TCG: argon2id, as
// LUKS2's default, with 32 MiB and the fewest iterations.
const luksFormatFlags = "--batch-mode --type luks2 --pbkdf argon2id --pbkdf-memory 32768 --pbkdf-force-iterations 4 --pbkdf-parallel 1"

// bootLogArgs make systemd print each unit's state on the console, and
// skip the kernel's IO-APIC timer check, which a loaded host's TCG can
// fail ("IO-APIC + timer doesn't work!", a panic before any storage).
const bootLogArgs = "no_timer_check systemd.show_status=1 systemd.status_unit_format=name systemd.log_target=console systemd.log_level=info"

// storageStack is one root storage stack booted by the systemd initrd.
type storageStack struct {
	name    string
	include []string          // fragments of the initrd besides base
	files   map[string]string // text files the manifest adds (crypttab, key files)
	extra   []any             // more entries of the manifest's contents
	disks   func(t *testing.T) []string
	attach  func(images []string, opts string) []string
	append  string // the kernel command line's root and storage options
	answer  string // typed at each passphrase prompt, if any
	// keyboard: the answer is typed on a USB keyboard, the only one (no
	// PS/2 controller), at a password agent that asks on tty1.
	keyboard bool
	tpm      bool // a TPM2 whose state the disks' builder left beside them
	steps    []string
}

// storageStacks are the stacks TestStorageBoot boots, in order.
var storageStacks = []storageStack{
	{
		name:    "luks-passphrase",
		include: []string{"virtio", "ext4", "luks"},
		disks:   luksDisk, attach: virtioDisks,
		append: "rd.luks.name=" + luksUUID + "=cryptroot root=/dev/mapper/cryptroot",
		answer: luksPassword,
		steps: []string{passphrasePrompt, "Finished systemd-cryptsetup@cryptroot.service.",
			"Mounted sysroot.mount.", "Switching root.", "root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	},
	{
		name:    "luks-usb-keyboard",
		include: []string{"virtio", "ext4", "luks", "keyboard"},
		files: map[string]string{
			"/etc/systemd/system/systemd-ask-password-console.service.d/tty1.conf": "[Service]\nExecStart=\nExecStart=systemd-tty-ask-password-agent --watch --console=/dev/tty1\n",
		},
		disks: luksDisk, attach: virtioDisks,
		append: "rd.luks.name=" + luksUUID + "=cryptroot root=/dev/mapper/cryptroot",
		answer: luksPassword, keyboard: true,
		// The keyboard may come before or after the agent, but before
		// the unlock, which needs its keys.
		steps: []string{"i8042: No controller found", "USB HID v1.11 Keyboard",
			"Finished systemd-cryptsetup@cryptroot.service.", "Switching root.",
			"root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	},
	{
		name:    "luks-keyfile",
		include: []string{"virtio", "ext4", "luks"},
		files: map[string]string{
			"/etc/crypttab":      "cryptroot UUID=" + luksUUID + " /etc/cryptroot.key luks\n",
			"/etc/cryptroot.key": luksKey,
		},
		disks: luksDisk, attach: virtioDisks,
		append: "root=/dev/mapper/cryptroot",
		steps: []string{"Finished systemd-cryptsetup@cryptroot.service.", "Mounted sysroot.mount.",
			"Switching root.", "root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	},
	{
		name:    "lvm-luks-nvme",
		include: []string{"nvme", "ext4", "luks", "lvm"},
		files: map[string]string{
			"/etc/crypttab":     "cryptlvm UUID=" + lvmLUKSUUID + " /etc/cryptlvm.key luks\n",
			"/etc/cryptlvm.key": luksKey,
		},
		disks: lvmDisk, attach: nvmeDisk,
		append: "root=/dev/vgtest/root",
		steps: []string{"Finished systemd-cryptsetup@cryptlvm.service.", "Found device dev-vgtest-root.device.",
			"Mounted sysroot.mount.", "Switching root.", "root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	},
	{
		name:    "mdraid1-xfs-ahci",
		include: []string{"ahci", "xfs", "mdraid"},
		disks:   raidDisks, attach: ahciDisks,
		append: "root=UUID=" + raidXFSUUID,
		// The kernel says when mdadm's incremental assembly has started
		// the array with both disks.
		steps: []string{"active with 2 out of 2 mirrors", "Mounted sysroot.mount.", "Switching root.", "root init: pid=1 fs=xfs by-label=testroot " + rootMarker},
	},
	{
		// Neither a key file nor a typed passphrase can unlock it, and
		// headless makes a TPM that fails fail the unit at once instead
		// of asking for a passphrase nobody types.
		name:    "luks-tpm2",
		include: []string{"virtio", "ext4", "tpm2"},
		files: map[string]string{
			"/etc/crypttab": "cryptroot UUID=" + tpmLUKSUUID + " - luks,tpm2-device=auto,headless=true\n",
		},
		disks: tpmDisk, attach: virtioDisks, tpm: true,
		append: "root=/dev/mapper/cryptroot",
		steps: []string{"tpm_tis MSFT0101:00: 2.0 TPM", "Finished systemd-cryptsetup@cryptroot.service.", "Mounted sysroot.mount.",
			"Switching root.", "root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	},
	{
		name:    "btrfs-virtio-scsi",
		include: []string{"virtio", "scsi", "btrfs"},
		disks:   btrfsDisk, attach: scsiDisk,
		append: "root=UUID=" + btrfsUUID,
		// busybox's stat names no btrfs ("UNKNOWN"): the kernel's scan
		// line says what the root is.
		steps: []string{"BTRFS: device label testroot", "Mounted sysroot.mount.", "Switching root.",
			"root init: pid=1 fs=UNKNOWN by-label=testroot " + rootMarker},
	},
	{
		name:    "ext4-usb-storage",
		include: []string{"usb-storage", "ext4"},
		disks:   plainDisk, attach: usbDisks,
		append: "root=LABEL=testroot",
		steps: []string{"USB Mass Storage device detected", "Mounted sysroot.mount.", "Switching root.",
			"root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker},
	},
}

// TestStorageBoot boots each storage stack's initrd, built from base and
// the stack's fragments, on Debian's kernel against disks prepared for
// it: systemd must unlock, assemble and mount the root and switch into
// it, whose /sbin/init then prints the marker.
func TestStorageBoot(t *testing.T) {
	storageBoots(t)
	for _, s := range storageStacks {
		t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			log := s.boot(t, s.disks(t))
			checkSteps(t, log, s.steps)
			t.Logf("%s booted in %v (disks and initrd included)", s.name, time.Since(start).Round(time.Second))
		})
	}
}

// TestStorageBootFails boots LUKS stacks that must not reach the root:
// a wrong passphrase at every prompt, and a luks fragment without
// dm_crypt. systemd-cryptsetup must fail and the boot end in emergency
// mode (powered off by the test's drop-in) at once, not at a timeout.
func TestStorageBootFails(t *testing.T) {
	storageBoots(t)
	wrong := stackNamed(t, "luks-passphrase")
	wrong.answer = "not the passphrase"
	noModule := stackNamed(t, "luks-keyfile")
	noModule.include = []string{"virtio", "ext4", withoutModule(t, "luks", "dm_crypt")}
	for name, s := range map[string]storageStack{"wrong-passphrase": wrong, "no-dm_crypt": noModule} {
		t.Run(name, func(t *testing.T) {
			log, reached := bootTyping(t, s.vm(t, s.initrd(t), s.disks(t)), s.answer, false)
			if reached {
				t.Fatalf("the root booted; last lines:\n%s", tail(log, 30))
			}
			for _, want := range []string{"Failed to start systemd-cryptsetup@cryptroot.service", "Reached target emergency.target"} {
				if !strings.Contains(ansi.ReplaceAllString(log, ""), want) {
					t.Errorf("console log lacks %q; last lines:\n%s", want, tail(log, 40))
				}
			}
		})
	}
}

// stackNamed returns a copy of the stack of storageStacks called name.
func stackNamed(t *testing.T, name string) storageStack {
	t.Helper()
	i := slices.IndexFunc(storageStacks, func(s storageStack) bool { return s.name == name })
	if i < 0 {
		t.Fatalf("no storage stack %s", name)
	}
	return storageStacks[i]
}

// withoutModule writes the shipped fragment name without one of its
// modules, and returns its path for "include".
func withoutModule(t *testing.T, name, module string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../fragments", name+".json"))
	must(t, err)
	var f map[string]any
	must(t, json.Unmarshal(data, &f))
	modules, _ := f["modules"].(map[string]any)
	for _, list := range []string{"load", "include"} {
		names, _ := modules[list].([]any)
		modules[list] = slices.DeleteFunc(names, func(n any) bool { return n == module })
	}
	data, err = json.Marshal(f)
	must(t, err)
	p := filepath.Join(t.TempDir(), name+"-without-"+module+".json")
	must(t, os.WriteFile(p, data, 0o644))
	return p
}

// storageBoots skips the test unless `make test-storage` runs it: the
// storage boots take minutes under TCG, more than `make test` allows
// them, so CI runs them as a target of their own.
func storageBoots(t *testing.T) {
	if os.Getenv("MKINITRD_NG_STORAGE_BOOT") == "" {
		t.Skip("the storage boots run with make test-storage (MKINITRD_NG_STORAGE_BOOT=1)")
	}
}

// boot builds the stack's initrd and boots it against images; with an
// answer, it types it at each passphrase prompt.
func (s storageStack) boot(t *testing.T, images []string) string {
	t.Helper()
	return s.run(t, s.vm(t, s.initrd(t), images))
}

// run boots v, typing the stack's answer at each passphrase prompt, and
// returns the console log without colours.
func (s storageStack) run(t *testing.T, v vm) string {
	t.Helper()
	if s.answer == "" {
		return ansi.ReplaceAllString(v.boot(t), "")
	}
	log, reached := bootTyping(t, v, s.answer, s.keyboard)
	if !reached {
		t.Fatalf("guest stopped without %q; last console lines:\n%s", v.marker, tail(log, 40))
	}
	return ansi.ReplaceAllString(log, "")
}

// vm is the boot of initrd against the stack's prepared images; writes
// go to QEMU's temporary overlays (snapshot=on), never to the cached
// images, and a TPM runs on a copy of the cached state.
func (s storageStack) vm(t *testing.T, initrd string, images []string) vm {
	t.Helper()
	extra := s.attach(images, ",snapshot=on")
	if s.keyboard {
		extra = append(extra, "-machine", "pc,i8042=off", "-device", "qemu-xhci,id=kbd", "-device", "usb-kbd,bus=kbd.0")
	}
	if s.tpm {
		state := filepath.Join(t.TempDir(), "tpm")
		mustRun(t, "cp", "-a", tpmState(images), state)
		extra = append(extra, swtpm(t, state)...)
	}
	return vm{
		initrd:  initrd,
		append:  s.append + " " + bootLogArgs,
		extra:   extra,
		marker:  rootMarker,
		timeout: 4 * time.Minute,
	}
}

// initrd builds the systemd example with the stack's fragments instead
// of virtio and ext4, and the stack's text files.
func (s storageStack) initrd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := systemdManifest(t, dir)
	data, err := os.ReadFile(p)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	m["include"] = append([]string{"base"}, s.include...)
	contents, _ := m["contents"].([]any)
	for path, text := range s.files {
		contents = append(contents, map[string]any{"target": path, "text": text, "mode": "0600"})
	}
	m["contents"] = append(contents, s.extra...)
	data, err = json.Marshal(m)
	must(t, err)
	must(t, os.WriteFile(p, data, 0o644))
	img := filepath.Join(dir, "initrd.img")
	if r := run(t, nil, "-m", p, "-o", img, "--kernel-version", kernelVersion(t)); r.code != 0 {
		t.Fatalf("mkinitrd-ng: exit %d\n%s", r.code, r.stderr)
	}
	return img
}

// checkSteps checks that the console log shows the steps in order.
func checkSteps(t *testing.T, log string, steps []string) {
	t.Helper()
	rest := log
	for _, want := range steps {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("console log lacks %q after the steps before it; last lines:\n%s", want, tail(log, 40))
		}
		rest = rest[i+len(want):]
	}
}

// passphrasePrompt is what systemd's password agent asks on the console.
const passphrasePrompt = "Please enter passphrase for disk"

// keyboardReady are the console lines after which keys typed on the USB
// keyboard can reach a password agent on a VT: the unlock has started,
// and the keyboard's driver is bound. The agent's own status line is
// no sign: systemd prints no status while the agent holds the console,
// so it may never show.
var keyboardReady = []string{"Starting systemd-cryptsetup@", "USB HID v1.11 Keyboard"}

// bootTyping boots v with the serial console on QEMU's standard input and
// output, as a person at the machine: a typist types answer (if any) at
// the passphrase prompt, on the serial console or, with keys, on QEMU's
// USB keyboard. It returns the console log and whether the marker came
// before the guest stopped; a timeout fails the test.
func bootTyping(t *testing.T, v vm, answer string, keys bool) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "serial.log")
	out, err := os.Create(logPath)
	must(t, err)
	defer out.Close()
	monitor := filepath.Join(dir, "monitor.sock")
	args := append([]string{"-nodefaults", "-display", "none", "-no-reboot", "-m", "768",
		"-accel", accel(), "-serial", "stdio", "-kernel", kernel(t), "-initrd", v.initrd,
		"-append", "console=ttyS0 panic=-1 " + v.append,
		"-chardev", "socket,id=mon,path=" + monitor + ",server=on,wait=off", "-mon", "chardev=mon,mode=readline"},
		v.extra...)
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = out, out
	k := &typist{keys: keys}
	k.w, err = cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if keys {
		k.w = dialMonitor(t, monitor)
	}
	for {
		select {
		case <-done:
			log := readLog(logPath)
			if ctx.Err() != nil {
				t.Fatalf("guest still running after %v; last console lines:\n%s", v.timeout, tail(log, 40))
			}
			return log, strings.Contains(log, v.marker)
		case <-time.After(200 * time.Millisecond):
			log := readLog(logPath)
			if strings.Contains(log, v.marker) {
				cancel()
				<-done
				return log, true
			}
			if answer != "" && k.due(ansi.ReplaceAllString(log, "")) {
				k.typeIn(answer)
			}
		}
	}
}

// typist types a passphrase at the guest's prompt. On the serial console
// it types at each prompt: each attempt prints it anew. With keys, it
// types on QEMU's USB keyboard through the monitor, 3 s after the
// keyboard is ready (keyboardReady) and again every 30 s: the agent asks
// on a VT that the log does not show, and keys typed before it opens the
// VT are lost.
type typist struct {
	w     io.Writer // QEMU's serial input, or its monitor with keys
	keys  bool
	typed int
	seen  time.Time // when the keyboard was seen ready, with keys
}

// due says whether to type now, given the console log so far.
func (k *typist) due(log string) bool {
	if !k.keys {
		n := strings.Count(log, passphrasePrompt)
		defer func() { k.typed = n }()
		return n > k.typed
	}
	for _, line := range keyboardReady {
		if !strings.Contains(log, line) {
			return false
		}
	}
	if k.seen.IsZero() {
		k.seen = time.Now()
	}
	if time.Since(k.seen) < 3*time.Second+time.Duration(k.typed)*30*time.Second {
		return false
	}
	k.typed++
	return true
}

// typeIn types answer and Enter.
func (k *typist) typeIn(answer string) {
	if !k.keys {
		io.WriteString(k.w, answer+"\n")
		return
	}
	for _, r := range answer {
		key := string(r)
		if r == ' ' {
			key = "spc"
		}
		fmt.Fprintf(k.w, "sendkey %s\n", key)
	}
	io.WriteString(k.w, "sendkey ret\n")
}

// dialMonitor connects to QEMU's monitor socket once QEMU has made it.
func dialMonitor(t *testing.T, path string) net.Conn {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial("unix", path)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if i == 100 {
			t.Fatalf("QEMU's monitor: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// luksDisk is a LUKS2 disk with the passphrase in one key slot and the
// key file in another, holding an ext4 root.
func luksDisk(t *testing.T) []string {
	return preparedDisks(t, luksFormat("/dev/vdb", luksUUID, "root")+luksExt4Root, []int64{48}, virtioDisksBuilder)
}

// luksExt4Root is a builder script's lines that make an ext4 root on the
// LUKS device opened as root, and close it.
const luksExt4Root = `
mkfs.ext4 -q -L testroot /dev/mapper/root
mount /dev/mapper/root /mnt
cp -a /src/. /mnt/
umount /mnt
cryptsetup close root
`

// lvmDisk is an NVMe disk holding LUKS2, holding an LVM volume group
// vgtest whose logical volume root holds an ext4 root.
func lvmDisk(t *testing.T) []string {
	return preparedDisks(t, luksFormat("/dev/nvme0n1", lvmLUKSUUID, "cryptlvm")+`
lvm pvcreate -y /dev/mapper/cryptlvm
lvm vgcreate vgtest /dev/mapper/cryptlvm
lvm lvcreate -y -n root -L 24M vgtest
mkfs.ext4 -q -L testroot /dev/mapper/vgtest-root
mount /dev/mapper/vgtest-root /mnt
cp -a /src/. /mnt/
umount /mnt
lvm vgchange -an vgtest
cryptsetup close cryptlvm
`, []int64{64}, func(images []string) []string { return nvmeDisk(images, "") })
}

// raidDisks are two SATA disks forming an md RAID1 (metadata 1.2) that
// holds an xfs root; mkfs.xfs wants at least 300 MiB. The images are
// sparse, and --assume-clean skips the initial resync.
func raidDisks(t *testing.T) []string {
	return preparedDisks(t, `wait_dev /dev/sda
wait_dev /dev/sdb
mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --metadata=1.2 --assume-clean /dev/sda /dev/sdb
mkfs.xfs -q -L testroot -m uuid=`+raidXFSUUID+` /dev/md0
mount -t xfs /dev/md0 /mnt
cp -a /src/. /mnt/
umount /mnt
mdadm --stop /dev/md0
`, []int64{320, 320}, func(images []string) []string { return ahciDisks(images, "") })
}

// tpmDisk is a LUKS2 disk whose passphrase slot is joined by a TPM2
// slot, enrolled in the builder guest by systemd-cryptenroll against a
// swtpm whose state the cache keeps beside the image (tpmState). The
// key is bound to no PCR: the builder's boot measures other things than
// the test's.
func tpmDisk(t *testing.T) []string {
	return preparedDisks(t, luksFormat("/dev/vdb", tpmLUKSUUID, "root")+luksExt4Root+`wait_dev /dev/tpmrm0
PASSWORD="$(cat /tmp/pass)" systemd-cryptenroll --tpm2-device=auto --tpm2-pcrs= /dev/vdb
`, []int64{48}, func(images []string) []string {
		return append(virtioDisks(images, ""), swtpm(t, tpmState(images))...)
	})
}

// tpmState is the directory of the TPM state beside tpmDisk's image.
func tpmState(images []string) string { return filepath.Join(filepath.Dir(images[0]), "tpm") }

// swtpm starts a TPM2 emulator on the state directory and returns QEMU's
// arguments for a TIS TPM on it. The emulator ends when QEMU closes its
// connection (--terminate), or with the test.
func swtpm(t *testing.T, state string) []string {
	t.Helper()
	must(t, os.MkdirAll(state, 0o700))
	sock := filepath.Join(t.TempDir(), "swtpm.sock")
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
		"--ctrl", "type=unixio,path="+sock, "--terminate")
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("swtpm made no socket %s in 10 s", sock)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return []string{"-chardev", "socket,id=tpm,path=" + sock,
		"-tpmdev", "emulator,id=tpm0,chardev=tpm", "-device", "tpm-tis,tpmdev=tpm0"}
}

// plainDisk is rootDisk's ext4 image, which needs no preparing.
func plainDisk(t *testing.T) []string { return []string{rootDisk(t, t.TempDir())} }

// btrfsDisk is made on the host: mkfs.btrfs fills it from a directory,
// which needs no btrfs in the host's kernel.
func btrfsDisk(t *testing.T) []string {
	dir := t.TempDir()
	rootDisk(t, dir)
	img := filepath.Join(dir, "btrfs.img")
	mustRun(t, "mkfs.btrfs", "-q", "-L", "testroot", "-U", btrfsUUID, "-r", filepath.Join(dir, "root"), "--shrink", img)
	return []string{img}
}

// luksFormat is a builder script's lines that make dev a LUKS2 device
// with luksPassword and luksKey, and open it as name.
func luksFormat(dev, uuid, name string) string {
	return fmt.Sprintf(`wait_dev %[1]s
printf %%s '%[4]s' > /tmp/pass
printf %%s '%[5]s' > /tmp/key
cryptsetup luksFormat %[6]s --uuid %[2]s --key-file /tmp/pass %[1]s
cryptsetup luksAddKey %[6]s --key-file /tmp/pass %[1]s /tmp/key
cryptsetup open --key-file /tmp/pass %[1]s %[3]s
`, dev, uuid, name, luksPassword, luksKey, luksFormatFlags)
}

// virtioDisks attaches images as virtio disks; opts are more -drive
// options.
func virtioDisks(images []string, opts string) []string {
	var args []string
	for _, img := range images {
		args = append(args, "-drive", "file="+img+",if=virtio,format=raw"+opts)
	}
	return args
}

// virtioDisksBuilder attaches images as writable virtio disks.
func virtioDisksBuilder(images []string) []string { return virtioDisks(images, "") }

// nvmeDisk attaches each image as an NVMe controller's namespace.
func nvmeDisk(images []string, opts string) []string {
	return attachDisks(images, opts, nil, func(id string, _ int) string {
		return "nvme,drive=" + id + ",serial=mkinitrd-" + id
	})
}

// ahciDisks attaches the images as SATA disks, one per port of an AHCI
// controller.
func ahciDisks(images []string, opts string) []string {
	return attachDisks(images, opts, []string{"-device", "ahci,id=ahci"}, func(id string, i int) string {
		return fmt.Sprintf("ide-hd,drive=%s,bus=ahci.%d", id, i)
	})
}

// scsiDisk attaches the images as SCSI disks of a virtio-scsi
// controller.
func scsiDisk(images []string, opts string) []string {
	return attachDisks(images, opts, []string{"-device", "virtio-scsi-pci,id=scsi"}, func(id string, _ int) string {
		return "scsi-hd,drive=" + id + ",bus=scsi.0"
	})
}

// usbDisks attaches the images as USB mass storage (bulk-only, for
// usb_storage) on an xHCI controller.
func usbDisks(images []string, opts string) []string {
	return attachDisks(images, opts, []string{"-device", "qemu-xhci,id=xhci"}, func(id string, _ int) string {
		return "usb-storage,bus=xhci.0,drive=" + id
	})
}

// attachDisks gives QEMU the controller's arguments, then each image as a
// drive of its own with the device that device names for it; opts are
// more -drive options.
func attachDisks(images []string, opts string, controller []string, device func(id string, i int) string) []string {
	args := controller
	for i, img := range images {
		id := fmt.Sprintf("disk%d", i)
		args = append(args, "-drive", "file="+img+",if=none,id="+id+",format=raw"+opts, "-device", device(id, i))
	}
	return args
}
