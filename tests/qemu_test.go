package tests

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/qemu"
)

// kernel returns the newest installed Debian kernel image.
func kernel(t *testing.T) string {
	t.Helper()
	k, err := qemu.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// accel is the accelerator the boots use.
func accel() string { return qemu.Accel() }

// vm is one QEMU boot.
type vm struct {
	initrd  string
	append  string
	extra   []string // more QEMU arguments (disks)
	marker  string   // the line that shows success
	timeout time.Duration
}

// boot runs the VM until the marker appears on the serial console, the
// guest powers off, or the timeout ends; it returns the console log and
// fails the test, with the last lines, when the marker never came.
func (v vm) boot(t *testing.T) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "serial.log")
	args := []string{"-nodefaults", "-display", "none", "-no-reboot", "-m", "768",
		"-accel", accel(), "-serial", "file:" + logPath,
		"-kernel", kernel(t), "-initrd", v.initrd,
		"-append", "console=ttyS0 panic=-1 " + v.append}
	return watch(t, qemu.Boot{Args: append(args, v.extra...), Log: logPath, Markers: []string{v.marker}, Timeout: v.timeout})
}

// watch runs a boot and returns its console log; a boot that ends
// without a marker fails the test with the console's last lines.
func watch(t *testing.T, b qemu.Boot) string {
	t.Helper()
	r, err := b.Run()
	if err != nil || r.Marker == "" {
		t.Fatalf("guest stopped without %q after %v (%v; qemu: %s); last console lines:\n%s",
			b.Markers, r.Elapsed.Round(time.Second), err, r.Stderr, tail(r.Log, 30))
	}
	t.Logf("%q after %v (%s)", r.Marker, r.Elapsed.Round(100*time.Millisecond), accel())
	return r.Log
}

func readLog(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}

// ansi matches the colour escapes of systemd's status lines.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// tail returns the last n lines of a console log, colour escapes removed.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(ansi.ReplaceAllString(s, ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// busyboxManifest is a shell initrd of the static busybox: /init prints
// a marker and powers off.
const busyboxManifest = `{"contents": [
 {"target": "/init", "mode": "0755", "text": "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox echo \"BOOT-OK $(/bin/busybox cat /proc/cmdline | /bin/busybox wc -c)\"\n/bin/busybox poweroff -f\n"},
 {"target": "/dev/console", "type": "char", "major": 5, "minor": 1},
 {"target": "/proc", "type": "dir"}
]}`

// TestBootBusybox boots a busybox initrd built with each compressor;
// xz-cli's compresses busybox, x86 code, with xz's x86 filter.
func TestBootBusybox(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	dir := t.TempDir()
	m := filepath.Join(dir, "busybox.json")
	must(t, os.WriteFile(m, []byte(busyboxManifest), 0o644))
	for _, comp := range []string{"none", "gzip", "zstd", "xz", "lz4", "xz-cli"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(dir, "initrd-"+comp)
			if r := run(t, nil, "-m", m, "-o", img, "-c", comp); r.code != 0 {
				t.Fatalf("mkinitrd-ng: %s", r.stderr)
			}
			if f := xzFilters(t, img); comp == "xz-cli" && !slices.Contains(f, "--x86 --lzma2=dict=2MiB") {
				t.Errorf("xz-cli's blocks have filters %q, want one with the x86 filter", f)
			}
			vm{initrd: img, marker: "BOOT-OK", timeout: 3 * time.Minute}.boot(t)
		})
	}
}

// TestBootShellExample boots the README's first example, this host's
// bash as a rescue shell, to the line its /init prints.
func TestBootShellExample(t *testing.T) {
	img := filepath.Join(t.TempDir(), "initrd.img")
	if r := run(t, nil, "-m", "../examples/shell.json", "-o", img); r.code != 0 {
		t.Fatalf("mkinitrd-ng: %s", r.stderr)
	}
	vm{initrd: img, marker: "mkinitrd-ng rescue shell on " + kernelVersion(t), timeout: 3 * time.Minute}.boot(t)
}

// xzFilters returns the filters of each block of an image of xz streams,
// as xz lists them ("--x86 --lzma2=dict=2MiB"); none for another format.
func xzFilters(t *testing.T, img string) []string {
	t.Helper()
	head := make([]byte, 6)
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "\xfd7zXZ\x00" {
		return nil
	}
	list, err := exec.Command("xz", "--robot", "-lvv", img).Output()
	if err != nil {
		t.Fatalf("xz --robot -lvv %s: %v", img, err)
	}
	var filters []string
	for line := range strings.Lines(string(list)) {
		if fields := strings.Split(strings.TrimSpace(line), "\t"); fields[0] == "block" {
			filters = append(filters, fields[len(fields)-1])
		}
	}
	return filters
}
