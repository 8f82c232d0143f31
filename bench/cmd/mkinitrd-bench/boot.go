package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/qemu"
)

// bootRoot is the marker the root file system's init prints.
const bootRoot = "ROOT-INIT-OK"

// Kernel log lines that bound the unpacking of the initramfs, and systemd's
// switch to the root file system, with the kernel's timestamps.
var (
	unpackStart = regexp.MustCompile(`\[ *(\d+\.\d+)\] Trying to unpack rootfs image as initramfs`)
	unpackEnd   = regexp.MustCompile(`\[ *(\d+\.\d+)\] Freeing initrd memory`)
	switchRoot  = regexp.MustCompile(`\[ *(\d+\.\d+)\] systemd\[1\]: Switching root\.`)
)

// bootSample is what one boot took, from the kernel's clock.
type bootSample struct {
	unpack, toSwitch time.Duration
}

// measureBoot builds the systemd example with each preset for the newest
// installed kernel, boots it in QEMU on an ext4 root disk cfg.presetRuns
// times, and formats a table of medians: the kernel's initramfs unpack
// time and the time until systemd switches root, both from the guest
// kernel's log.
func measureBoot(cfg *config) (string, error) {
	kernel, err := qemu.Kernel()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(cfg.cache, "run-boot-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	disk, err := bootDisk(dir)
	if err != nil {
		return "", err
	}
	manifest, err := bootManifest(cfg, dir)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "boot of the systemd example on %s under QEMU (%s), median of %d boot(s):\n", filepath.Base(kernel), qemu.Accel(), cfg.presetRuns)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "compressor\tlevel\tMB\tunpack s\tto switch root s\t")
	for _, p := range append([][]string{{"-c", "none", "--level", "default"}}, presets()...) {
		img := filepath.Join(dir, "initrd.img")
		args := append([]string{"-m", manifest, "-o", img, "--kernel-version", strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")}, p...)
		if out, err := exec.Command(cfg.bin, args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("mkinitrd-ng %s: %w: %s", strings.Join(p, " "), err, lastLines(string(out), 5))
		}
		fi, err := os.Stat(img)
		if err != nil {
			return "", err
		}
		var samples []bootSample
		for range cfg.presetRuns {
			s, err := bootOnce(kernel, img, disk, filepath.Join(dir, "console.log"))
			if err != nil {
				return "", fmt.Errorf("boot with %s: %w", strings.Join(p, " "), err)
			}
			samples = append(samples, s)
		}
		s := medianBoot(samples)
		fmt.Fprintf(os.Stderr, "  boot %s: unpack %.3fs, switch root %.2fs\n", strings.Join(p, " "), s.unpack.Seconds(), s.toSwitch.Seconds())
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.3f\t%.2f\t\n", p[1], p[3], float64(fi.Size())/1e6, s.unpack.Seconds(), s.toSwitch.Seconds())
	}
	tw.Flush()
	return b.String(), nil
}

// bootManifest writes examples/systemd-initrd.json with a drop-in that
// powers a failed boot off at once, and returns its path.
func bootManifest(cfg *config, dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(cfg.repo, "examples", "systemd-initrd.json"))
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return "", err
	}
	contents, _ := m["contents"].([]any)
	m["contents"] = append(contents, map[string]any{
		"target": "/etc/systemd/system/emergency.service.d/bench-poweroff.conf",
		"text":   "[Service]\nExecStartPre=\nExecStart=\nExecStart=/usr/bin/systemctl --force --force poweroff\n",
	})
	out, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "systemd-initrd.json")
	return p, os.WriteFile(p, out, 0o644)
}

// bootDisk makes an ext4 image of a busybox root whose init prints
// bootRoot and powers off.
func bootDisk(dir string) (string, error) {
	tree := filepath.Join(dir, "root")
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			return "", err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("%w (install busybox-static)", err)
	}
	files := map[string]string{"bin/busybox": string(bb), "etc/os-release": "ID=benchroot\n",
		"sbin/init": "#!/bin/busybox sh\n/bin/busybox echo " + bootRoot + "\n/bin/busybox poweroff -f\n"}
	for p, data := range files {
		if err := os.WriteFile(filepath.Join(tree, p), []byte(data), 0o755); err != nil {
			return "", err
		}
	}
	img := filepath.Join(dir, "root.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "benchroot", "-d", tree, img, "16M").CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkfs.ext4: %w: %s", err, out)
	}
	return img, nil
}

// bootTimeout bounds one boot: under TCG systemd takes some 20 s to switch
// root on a loaded machine.
const bootTimeout = 3 * time.Minute

// bootOnce boots the image until the root's init prints its marker and
// reads the timings from the console log.
func bootOnce(kernel, img, disk, log string) (bootSample, error) {
	os.Remove(log)
	r, err := qemu.Boot{
		Args: []string{"-nodefaults", "-display", "none", "-no-reboot", "-m", "768",
			"-accel", qemu.Accel(), "-serial", "file:" + log, "-kernel", kernel, "-initrd", img,
			"-append", "console=ttyS0 panic=-1 root=/dev/vda systemd.log_target=kmsg systemd.log_level=info printk.devkmsg=on",
			"-drive", "file=" + disk + ",if=virtio,format=raw"},
		Log: log, Markers: []string{bootRoot}, Timeout: bootTimeout,
	}.Run()
	if err != nil || r.Marker == "" {
		return bootSample{}, fmt.Errorf("no %s on the console (%v; qemu: %s); last lines:\n%s", bootRoot, err, r.Stderr, lastLines(r.Log, 10))
	}
	data := []byte(r.Log)
	stamps := make([]time.Duration, 3)
	for i, re := range []*regexp.Regexp{unpackStart, unpackEnd, switchRoot} {
		m := re.FindSubmatch(data)
		if m == nil {
			return bootSample{}, fmt.Errorf("no %q in the console log", re)
		}
		sec, _ := strconv.ParseFloat(string(m[1]), 64)
		stamps[i] = time.Duration(sec * float64(time.Second))
	}
	return bootSample{unpack: stamps[1] - stamps[0], toSwitch: stamps[2]}, nil
}

// medianBoot is the median of each timing.
func medianBoot(s []bootSample) bootSample {
	pick := func(f func(bootSample) time.Duration) time.Duration {
		v := make([]time.Duration, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return bootSample{
		unpack:   pick(func(b bootSample) time.Duration { return b.unpack }),
		toSwitch: pick(func(b bootSample) time.Duration { return b.toSwitch }),
	}
}
