package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// The early microcode files, as the kernel looks for them in an
// uncompressed cpio at the start of the initrd
// (Documentation/arch/x86/microcode.rst). Paths are relative: the early
// archive names them without a leading slash, after the directories
// "kernel", "kernel/x86" and "kernel/x86/microcode".
const (
	IntelMicrocode = "kernel/x86/microcode/GenuineIntel.bin"
	AMDMicrocode   = "kernel/x86/microcode/AuthenticAMD.bin"
)

// MicrocodeDirs are the directories the early archive needs, parents
// first.
var MicrocodeDirs = []string{"kernel", "kernel/x86", "kernel/x86/microcode"}

// Microcode builds the contents of the early microcode archive from the
// tree's firmware, as the kernel documentation does it: GenuineIntel.bin
// is every file of /lib/firmware/intel-ucode, AuthenticAMD.bin every
// /lib/firmware/amd-ucode/microcode_amd*.bin, each concatenated in name
// order. A vendor with no files is left out; no files at all gives an
// empty list and no error.
func Microcode(fsys *rootfs.FS) ([]Generated, error) {
	var out []Generated
	var errs []error
	for _, v := range []struct {
		dir, pattern, dest, why string
	}{
		{path.Join(FirmwareDir, "intel-ucode"), "*", IntelMicrocode, "Intel microcode for early loading"},
		{path.Join(FirmwareDir, "amd-ucode"), "microcode_amd*.bin", AMDMicrocode, "AMD microcode for early loading"},
	} {
		data, srcs, err := concatDir(fsys, v.dir, v.pattern)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(srcs) == 0 {
			continue
		}
		why := fmt.Sprintf("%s: %d files of %s", v.why, len(srcs), v.dir)
		if len(srcs) == 1 {
			why = v.why + ": " + srcs[0]
		}
		out = append(out, Generated{Path: v.dest, Data: data, Why: why})
	}
	if len(errs) > 0 {
		return out, joinSorted(errs)
	}
	return out, nil
}

// concatDir concatenates the regular files of dir whose names match
// pattern (hidden files excluded, as the shell's * does), in name order.
func concatDir(fsys *rootfs.FS, dir, pattern string) ([]byte, []string, error) {
	ents, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") && fnmatch(pattern, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var buf bytes.Buffer
	var srcs []string
	for _, n := range names {
		p := path.Join(dir, n)
		fi, err := fsys.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // a dangling link or a directory is no microcode
		}
		f, err := fsys.Open(p)
		if err != nil {
			return nil, nil, err
		}
		_, err = io.Copy(&buf, f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		srcs = append(srcs, p)
	}
	return buf.Bytes(), srcs, nil
}
