package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// kernel returns the newest installed Debian kernel image.
func kernel(t *testing.T) string {
	t.Helper()
	images, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(images) == 0 {
		t.Fatal("no /boot/vmlinuz-*: install linux-image-amd64 (make deps)")
	}
	sort.Strings(images)
	return images[len(images)-1]
}

// accel picks KVM only when it can run guests: /dev/kvm opens and the CPU
// has vmx or svm. Machines here have /dev/kvm but no vmx/svm, where a KVM
// guest hangs, so TCG is the safe default.
func accel() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	if bytes.Contains(cpuinfo, []byte(" vmx")) || bytes.Contains(cpuinfo, []byte(" svm")) {
		return "kvm"
	}
	return "tcg"
}

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
	args = append(args, v.extra...)
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var qerr bytes.Buffer
	cmd.Stderr = &qerr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var log string
	for {
		select {
		case <-done:
			log = readLog(logPath)
			if !strings.Contains(log, v.marker) {
				t.Fatalf("guest stopped without %q after %v (qemu: %s); last console lines:\n%s",
					v.marker, time.Since(start).Round(time.Second), qerr.String(), tail(log, 30))
			}
			return log
		case <-time.After(200 * time.Millisecond):
			log = readLog(logPath)
			if strings.Contains(log, v.marker) {
				cancel()
				<-done
				t.Logf("marker after %v (%s)", time.Since(start).Round(100*time.Millisecond), accel())
				return log
			}
		}
	}
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

// TestBootBusybox boots a busybox initrd built with each compressor.
func TestBootBusybox(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	dir := t.TempDir()
	m := filepath.Join(dir, "busybox.json")
	must(t, os.WriteFile(m, []byte(busyboxManifest), 0o644))
	for _, comp := range []string{"none", "gzip", "zstd", "xz", "lz4"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(dir, "initrd-"+comp)
			if r := run(t, nil, "-m", m, "-o", img, "-c", comp); r.code != 0 {
				t.Fatalf("mkinitrd-ng: %s", r.stderr)
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
