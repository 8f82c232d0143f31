// Command capture records, from a booted test guest, what `mkinitrd-ng
// host` reads of a machine, so that host's detection can be replayed on
// that machine's tree: /proc/self/mountinfo and /proc/cpuinfo, the
// sysfs directories of every block and input device with their
// ancestors, drivers and modules, /dev's block devices and links (a
// LUKS device's header kept, every other device an empty file), and
// /etc/crypttab and /etc/vconsole.conf.
//
// The tests' storage guests run it twice. In the initrd, as
//
//	capture --stage DIR
//
// it copies itself and the initrd's /etc/crypttab (the machine's, as
// the initrd was given it) to DIR, below /sysroot: systemd switches only
// to an init on the root. After the switch, as the root's init
// (init=DIR/capture on the kernel command line), it writes the tree as a tar archive onto the
// virtio disk whose serial is "mkinitrd-capture", flushes it, prints
// "CAPTURED-OK" and executes /sbin/init.
package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// serial names the virtio disk the archive is written to.
const serial = "mkinitrd-capture"

func main() {
	if len(os.Args) == 3 {
		if err := command(os.Args[1], os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "capture %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
	if err := capture(captureDisk, filepath.Dir(os.Args[0])); err != nil {
		fmt.Println("capture failed:", err)
	} else {
		fmt.Println("capture written: CAPTURED-OK")
	}
	err := syscall.Exec("/sbin/init", []string{"/sbin/init"}, os.Environ())
	fmt.Println("capture: cannot execute /sbin/init:", err)
}

// command runs "--stage DIR", or "--to FILE", which writes the archive
// of the running machine to FILE instead of the capture disk.
func command(name, arg string) error {
	switch name {
	case "--stage":
		return stage(arg)
	case "--to":
		if err := os.WriteFile(arg, nil, 0o644); err != nil {
			return err
		}
		return capture(func() (string, error) { return arg, nil }, "")
	}
	return fmt.Errorf("usage: capture [--stage DIR | --to FILE]")
}

// stage copies this program and the initrd's crypttab to dir.
func stage(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := copyFile("/proc/self/exe", filepath.Join(dir, "capture"), 0o755); err != nil {
		return err
	}
	err := copyFile("/etc/crypttab", filepath.Join(dir, "crypttab"), 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, mode)
}

// capture writes the machine's tree to the file output names; staged
// is where stage left the initrd's crypttab.
func capture(output func() (string, error), staged string) error {
	disk, err := output()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &recorder{tw: tar.NewWriter(f), seen: map[string]bool{}}
	w.tree(staged)
	if w.err != nil {
		return w.err
	}
	if err := w.tw.Close(); err != nil {
		return err
	}
	return f.Sync()
}

// captureDisk finds the /dev node of the disk with the capture serial.
func captureDisk() (string, error) {
	names, err := filepath.Glob("/sys/block/*/serial")
	if err != nil {
		return "", err
	}
	for _, p := range names {
		data, _ := os.ReadFile(p)
		if strings.TrimSpace(string(data)) == serial {
			return "/dev/" + filepath.Base(filepath.Dir(p)), nil
		}
	}
	return "", fmt.Errorf("no disk has the serial %s", serial)
}
