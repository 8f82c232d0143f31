package main

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// recorder writes paths of the running machine into a tar archive, each
// once, with the first error kept.
type recorder struct {
	tw   *tar.Writer
	seen map[string]bool
	err  error
}

// files are the machine's files host reads besides sysfs and /dev.
var files = []string{"/proc/self/mountinfo", "/proc/cpuinfo", "/proc/cmdline",
	"/proc/sys/kernel/osrelease", "/etc/vconsole.conf", "/etc/os-release"}

// classes are the sysfs directories whose links lead to the devices
// recorded.
var classes = []string{"/sys/dev/block", "/sys/class/block", "/sys/block", "/sys/class/input"}

// deviceDirs are the subdirectories of a device recorded with it: a dm
// or md device's parts and attributes, an input device's capabilities.
var deviceDirs = []string{"slaves", "holders", "dm", "md", "capabilities"}

// skipped are sysfs attributes that are not plain text to read: PCI
// config space, ROMs and memory windows, and write-only controls.
func skipped(name string) bool {
	return strings.HasPrefix(name, "resource") || slices.Contains([]string{"rom", "config", "vpd",
		"remove", "rescan", "reset", "bind", "unbind", "new_id", "remove_id", "uevent_seqnum"}, name)
}

// tree records everything; staged holds the initrd's crypttab.
func (r *recorder) tree(staged string) {
	for _, p := range files {
		r.file(p, p)
	}
	if _, err := os.Stat("/etc/crypttab"); err == nil {
		r.file("/etc/crypttab", "/etc/crypttab")
	} else {
		r.file("/etc/crypttab", filepath.Join(staged, "crypttab"))
	}
	for _, dir := range classes {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			r.follow(filepath.Join(dir, e.Name()), r.device)
		}
	}
	r.dev()
}

// follow records the link at p and calls visit with where it leads.
func (r *recorder) follow(p string, visit func(string)) {
	r.link(p)
	if target, err := filepath.EvalSymlinks(p); err == nil {
		visit(target)
	}
}

// device records a device's directory: its attributes and links, the
// subdirectories of deviceDirs, the devices and drivers it links to,
// and its ancestors up to /sys/devices.
func (r *recorder) device(dir string) {
	if r.seen[dir] || !strings.HasPrefix(dir, "/sys/devices/") {
		return
	}
	r.mkdir(dir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0 && e.Name() == "device":
			r.follow(p, r.device)
		case e.Type()&fs.ModeSymlink != 0 && e.Name() == "driver":
			r.follow(p, r.driver)
		case e.Type()&fs.ModeSymlink != 0:
			r.link(p)
		case e.Type().IsRegular() && !skipped(e.Name()):
			r.file(p, p)
		case e.IsDir() && slices.Contains(deviceDirs, e.Name()):
			r.subdir(p)
		}
	}
	r.device(filepath.Dir(dir))
}

// subdir records a device's subdirectory one level deep; its links are
// to other devices (slaves, holders), which are recorded too.
func (r *recorder) subdir(dir string) {
	r.mkdir(dir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			r.follow(p, r.device)
		case e.Type().IsRegular() && !skipped(e.Name()):
			r.file(p, p)
		}
	}
}

// driver records a driver's directory and the link to its module.
func (r *recorder) driver(dir string) {
	r.mkdir(dir)
	r.follow(filepath.Join(dir, "module"), r.mkdir)
}

// dev records /dev's block devices and links: a block device becomes a
// regular file holding its LUKS header if it has one, else empty.
func (r *recorder) dev() {
	filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && slices.Contains([]string{"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/hugepages"}, p):
			return fs.SkipDir
		case d.IsDir():
			r.mkdir(p)
		case d.Type()&fs.ModeSymlink != 0:
			r.link(p)
		case d.Type()&fs.ModeDevice != 0 && d.Type()&fs.ModeCharDevice == 0:
			r.write(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644}, luksHeader(p))
		}
		return nil
	})
}

// luksHeader returns the LUKS header at the start of the device p, nil
// if it has none: LUKS2's binary header and JSON area (hdr_size bytes),
// or LUKS1's fixed header.
func luksHeader(p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var bin [16]byte
	if _, err := io.ReadFull(f, bin[:]); err != nil || !bytes.Equal(bin[:6], []byte("LUKS\xba\xbe")) {
		return nil
	}
	size := uint64(592)
	if binary.BigEndian.Uint16(bin[6:8]) == 2 {
		size = min(binary.BigEndian.Uint64(bin[8:16]), 4<<20)
	}
	data := make([]byte, size)
	n, _ := f.ReadAt(data, 0)
	return data[:n]
}

// file records the content of from as the regular file p; a file that
// cannot be read is left out (sysfs has attributes that refuse reads).
func (r *recorder) file(p, from string) {
	f, err := os.Open(from)
	if err != nil {
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return
	}
	r.write(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644}, data)
}

// link records the symlink p with its text.
func (r *recorder) link(p string) {
	if target, err := os.Readlink(p); err == nil {
		r.write(&tar.Header{Name: p, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, nil)
	}
}

// mkdir records the directory p.
func (r *recorder) mkdir(p string) {
	r.write(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
}

// write adds one entry, once.
func (r *recorder) write(h *tar.Header, data []byte) {
	key := strings.TrimSuffix(h.Name, "/")
	if r.err != nil || r.seen[key] {
		return
	}
	r.seen[key] = true
	h.Name = strings.TrimPrefix(h.Name, "/")
	h.Size = int64(len(data))
	if err := r.tw.WriteHeader(h); err != nil {
		r.err = errors.Join(r.err, err)
		return
	}
	if _, err := r.tw.Write(data); err != nil {
		r.err = err
	}
}
