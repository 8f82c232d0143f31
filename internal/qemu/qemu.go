// Package qemu runs Debian's kernel under QEMU for the end-to-end tests
// and the boot benchmark: which accelerator works here, which kernel to
// boot, and a boot watched on its serial console until a marker line.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrNoKernel is returned by Kernel when /boot holds no kernel image.
var ErrNoKernel = errors.New("qemu: no /boot/vmlinuz-*: install linux-image-amd64 (make deps)")

// Accel picks KVM only when it can run guests: /dev/kvm opens and the CPU
// has vmx or svm. Machines here have /dev/kvm but no vmx/svm, where a KVM
// guest hangs, so TCG is the safe default.
func Accel() string {
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

// Kernel returns the newest /boot/vmlinuz-VERSION.
func Kernel() (string, error) {
	images, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(images) == 0 {
		return "", ErrNoKernel
	}
	sort.Strings(images)
	return images[len(images)-1], nil
}

// Boot is one run of qemu-system-x86_64 whose serial console is written
// to Log.
type Boot struct {
	Args    []string // QEMU's arguments, with -serial file:Log among them
	Log     string
	Markers []string      // the console lines that end the boot
	Timeout time.Duration // how long the guest may run
	// Clean, if set, turns the log into what the markers are looked for
	// in (colour escapes removed, say).
	Clean func(string) string
}

// Result is what a boot gave: the console log, the marker seen ("" if
// the guest stopped without one), QEMU's standard error and how long
// it took.
type Result struct {
	Log, Marker, Stderr string
	Elapsed             time.Duration
}

// Run boots until a marker appears on the console, the guest stops, or
// the timeout ends, which is an error; QEMU is stopped when a marker
// appears.
func (b Boot) Run() (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", b.Args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("qemu: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		var stopped bool
		select {
		case <-done:
			stopped = true
		case <-time.After(200 * time.Millisecond):
		}
		r := Result{Log: b.read(), Elapsed: time.Since(start)}
		r.Marker = b.marker(r.Log)
		if r.Marker != "" && !stopped {
			cancel()
			<-done
		}
		if r.Marker != "" || stopped {
			r.Stderr = stderr.String()
			if ctx.Err() != nil && r.Marker == "" {
				return r, fmt.Errorf("qemu: guest still running after %v", b.Timeout)
			}
			return r, nil
		}
	}
}

func (b Boot) read() string {
	data, _ := os.ReadFile(b.Log)
	if b.Clean != nil {
		return b.Clean(string(data))
	}
	return string(data)
}

func (b Boot) marker(log string) string {
	for _, m := range b.Markers {
		if strings.Contains(log, m) {
			return m
		}
	}
	return ""
}
