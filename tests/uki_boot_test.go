package tests

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/qemu"
	"github.com/mkinitrd-ng/mkinitrd-ng/uki"
)

// Debian's ovmf: firmware without Secure Boot, and firmware that enforces
// it, with the snakeoil certificate enrolled in db.
const (
	ovmfCode       = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars       = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd"
	ovmfSecureVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
)

// systemdCmdline is the command line of the systemd example's UKIs.
const systemdCmdline = "console=ttyS0 panic=-1 root=/dev/vda " + bootLogArgs

// efiVM is one QEMU boot through OVMF, which finds what to boot itself,
// as on a real machine, rather than through QEMU's -kernel.
type efiVM struct {
	secure  bool              // enforce Secure Boot, the snakeoil certificate in db
	esp     map[string]string // the FAT ESP on a SATA disk: path in it -> host file
	tftp    string            // a file served by TFTP as the DHCP boot file: PXE
	root    string            // the root disk, /dev/vda
	markers []string          // the console lines that end the boot
	timeout time.Duration
}

// boot runs the VM until a marker appears on the serial console, the
// guest powers off, or the timeout ends; it returns the console log, colour
// escapes removed, and fails the test with its last lines when no marker
// came.
func (v efiVM) boot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "serial.log")
	return watch(t, qemu.Boot{Args: v.args(t, dir, logPath), Log: logPath, Markers: v.markers, Timeout: v.timeout,
		Clean: func(s string) string { return strings.ReplaceAll(ansi.ReplaceAllString(s, ""), "\r\n", "\n") }})
}

// args are QEMU's arguments: the firmware with a copy of its variables,
// the ESP, the network and the root disk.
func (v efiVM) args(t *testing.T, dir, logPath string) []string {
	t.Helper()
	machine, code, vars := "q35", ovmfCode, ovmfVars
	if v.secure {
		machine, code, vars = "q35,smm=on", ovmfSecureCode, ovmfSecureVars
	}
	varsCopy := filepath.Join(dir, "vars.fd")
	data, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal("no OVMF variables: install ovmf (make deps)")
	}
	must(t, os.WriteFile(varsCopy, data, 0o600))
	args := []string{"-machine", machine, "-nodefaults", "-display", "none", "-no-reboot", "-m", "768",
		"-accel", accel(), "-serial", "file:" + logPath,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + varsCopy}
	if v.secure {
		args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
	}
	if v.esp != nil {
		args = append(args, "-drive", "file="+espImage(t, dir, v.esp)+",format=raw,if=none,id=esp", "-device", "ide-hd,drive=esp")
	}
	if v.tftp != "" {
		// No romfile: OVMF's own PXE, not iPXE, which passes the file's
		// name as arguments.
		args = append(args, "-netdev", "user,id=net0,tftp="+filepath.Dir(v.tftp)+",bootfile="+filepath.Base(v.tftp),
			"-device", "virtio-net-pci,netdev=net0,romfile=")
	}
	return append(args, "-drive", "file="+v.root+",if=virtio,format=raw")
}

// espImage makes a FAT image holding files (path in it -> host file)
// with mtools, without mounting anything.
func espImage(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	img := filepath.Join(dir, "esp.img")
	size := int64(8 << 20)
	var names []string
	for name, src := range files {
		fi, err := os.Stat(src)
		must(t, err)
		size += fi.Size()
		names = append(names, name)
	}
	sort.Strings(names)
	must(t, os.WriteFile(img, nil, 0o600))
	must(t, os.Truncate(img, (size+1<<20-1)&^(1<<20-1)))
	mustRun(t, "mformat", "-i", img, "-v", "ESP", "::")
	made := map[string]bool{}
	for _, name := range names {
		var parts []string
		for d := path.Dir(name); d != "/" && d != "."; d = path.Dir(d) {
			parts = append([]string{d}, parts...)
		}
		for _, d := range parts {
			if !made[d] {
				mustRun(t, "mmd", "-i", img, "::"+d)
				made[d] = true
			}
		}
		mustRun(t, "mcopy", "-i", img, files[name], "::"+name)
	}
	return img
}

// rootInit is the line the root disk's init prints once systemd switched
// root into it.
const rootInit = "root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker

// TestUKIBootESP boots the systemd example as a UKI that OVMF finds on a
// FAT ESP as EFI/BOOT/BOOTX64.EFI: the stub hands the kernel its initrd
// and command line, and systemd switches root into the ext4 disk.
func TestUKIBootESP(t *testing.T) {
	dir := t.TempDir()
	efi := filepath.Join(dir, "uki.efi")
	buildUKI(t, efi, "-m", systemdManifest(t, dir), "--cmdline", systemdCmdline)
	log := efiVM{
		esp:     map[string]string{"/EFI/BOOT/BOOTX64.EFI": efi},
		root:    rootDisk(t, dir),
		markers: []string{rootMarker},
		timeout: 4 * time.Minute,
	}.boot(t)
	checkSteps(t, log, []string{"EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path",
		"Kernel command line: " + systemdCmdline, "Switching root.", rootInit})
}

// TestUKISecureBoot boots UKIs on firmware that enforces Secure Boot with
// Debian's snakeoil certificate in db: the UKI signed with the snakeoil key
// boots the systemd example to the root's init, with the kernel saying
// Secure Boot is on; the unsigned one is refused.
func TestUKISecureBoot(t *testing.T) {
	dir := t.TempDir()
	manifest := systemdManifest(t, dir)
	signed, unsigned := filepath.Join(dir, "signed.efi"), filepath.Join(dir, "unsigned.efi")
	buildUKI(t, signed, "-m", manifest, "--cmdline", systemdCmdline, "--sign-key", snakeoilKeyFile(t, dir), "--sign-cert", snakeoilCert)
	buildUKI(t, unsigned, "-m", manifest, "--cmdline", systemdCmdline)
	root := rootDisk(t, dir)
	t.Run("signed", func(t *testing.T) {
		log := efiVM{secure: true, esp: map[string]string{"/EFI/BOOT/BOOTX64.EFI": signed}, root: root,
			markers: []string{rootMarker}, timeout: 4 * time.Minute}.boot(t)
		checkSteps(t, log, []string{"EFI stub: UEFI Secure Boot is enabled.", "secureboot: Secure boot enabled",
			"Switching root.", rootInit})
	})
	t.Run("unsigned", func(t *testing.T) {
		log := efiVM{secure: true, esp: map[string]string{"/EFI/BOOT/BOOTX64.EFI": unsigned}, root: root,
			markers: []string{"Access Denied", rootMarker}, timeout: 2 * time.Minute}.boot(t)
		if !strings.Contains(log, "Access Denied") || strings.Contains(log, "EFI stub") {
			t.Fatalf("the unsigned UKI was not refused; last lines:\n%s", tail(log, 30))
		}
	})
}

// loaderArgs are the arguments systemd-boot passes to the UKI in
// TestUKICmdline: another root, and a word to find them by.
const loaderArgs = "console=ttyS0 root=/dev/bogus init=/bin/sh LOADER-ARGS"

// TestUKICmdline boots a UKI through systemd-boot, whose entry passes
// other arguments. Under Secure Boot the kernel gets the UKI's own
// .cmdline. Without Secure Boot, Debian 12's systemd-stub (252) takes the
// boot loader's arguments instead, as systemd-stub(7) says: a UKI's
// command line binds only under Secure Boot.
func TestUKICmdline(t *testing.T) {
	dir := t.TempDir()
	key := snakeoilKeyFile(t, dir)
	own := "console=ttyS0 panic=-1 root=/dev/vda UKI-OWN"
	efi, boot := filepath.Join(dir, "uki.efi"), filepath.Join(dir, "systemd-bootx64.efi")
	buildUKI(t, efi, "-m", busyboxManifestFile(t, dir), "--cmdline", own, "--sign-key", key, "--sign-cert", snakeoilCert)
	mustRun(t, "sbsign", "--key", key, "--cert", snakeoilCert, "--output", boot, "/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
	conf, entry := filepath.Join(dir, "loader.conf"), filepath.Join(dir, "uki.conf")
	must(t, os.WriteFile(conf, []byte("timeout 0\ndefault uki.conf\n"), 0o644))
	must(t, os.WriteFile(entry, []byte("title UKI\nefi /uki.efi\noptions "+loaderArgs+"\n"), 0o644))
	esp := map[string]string{"/EFI/BOOT/BOOTX64.EFI": boot, "/loader/loader.conf": conf,
		"/loader/entries/uki.conf": entry, "/uki.efi": efi}
	root := rootDisk(t, dir)
	for _, tc := range []struct {
		name   string
		secure bool
		want   string
	}{
		{"secure boot", true, own},
		{"no secure boot", false, loaderArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := efiVM{secure: tc.secure, esp: esp, root: root, markers: []string{"BOOT-OK"}, timeout: 3 * time.Minute}.boot(t)
			_, line, _ := strings.Cut(log, "Kernel command line: ")
			if line, _, _ = strings.Cut(line, "\n"); line != tc.want {
				t.Errorf("the kernel's command line is %q, want %q", line, tc.want)
			}
		})
	}
}

// TestUKINetboot serves the systemd example's UKI, its initrd compressed
// with xz at --level max, over QEMU's TFTP; OVMF's PXE loads it and it
// boots to the root's init, with no disk but the root. TFTP under TCG
// makes it the slowest boot, so make test-netboot runs it, not make test.
func TestUKINetboot(t *testing.T) {
	if os.Getenv("MKINITRD_NG_NETBOOT") == "" {
		t.Skip("make test-netboot runs it (MKINITRD_NG_NETBOOT=1)")
	}
	dir := t.TempDir()
	efi := filepath.Join(dir, "tftp", "uki.efi")
	must(t, os.Mkdir(filepath.Dir(efi), 0o755))
	buildUKI(t, efi, "-m", systemdManifest(t, dir), "-c", "xz", "--level", "max", "--cmdline", systemdCmdline)
	fi, err := os.Stat(efi)
	must(t, err)
	t.Logf("UKI of %d bytes, initrd of %d", fi.Size(), len(ukiSection(t, efi, uki.Initrd)))
	log := efiVM{tftp: efi, root: rootDisk(t, dir), markers: []string{rootMarker}, timeout: 6 * time.Minute}.boot(t)
	checkSteps(t, log, []string{">>Start PXE over IPv4", "EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path",
		"Kernel command line: " + systemdCmdline, "Switching root.", rootInit})
}
