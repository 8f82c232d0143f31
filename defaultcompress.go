package mkinitrd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/kmod"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// procConfig is where a kernel built with CONFIG_IKCONFIG_PROC shows
// its own configuration.
const procConfig = "/proc/config.gz"

// DefaultCompressor returns the compressor of a build whose manifest and
// options name none, and why it is that one. It is zstd, the default of
// dracut, mkinitcpio, booster and NixOS, unless the configuration of the
// target kernel says the kernel cannot unpack zstd: then gzip, or none
// if the kernel unpacks neither. The configuration is the root's
// /boot/config-VERSION, else /proc/config.gz when the target is the
// running kernel; without either, zstd. The level is opts.Level, else
// the manifest's.
func DefaultCompressor(m *resolve.Manifest, opts Options) (compressors.Compressor, string, error) {
	fsys, err := OpenRoot(m, opts)
	if err != nil {
		return nil, "", err
	}
	defer fsys.Close()
	name, why := defaultCompressorName(fsys, opts.KernelVersion, procConfig)
	level := m.Level
	if opts.Level != "" {
		level = opts.Level
	}
	n, err := compressors.ParseLevel(string(level))
	if err != nil {
		return nil, "", err
	}
	if name == "none" {
		n = 0 // the level was meant for a compressor the kernel cannot unpack
	}
	c, err := compressors.Lookup(name, n)
	if err != nil {
		return nil, "", fmt.Errorf("default %s: %w", why, err)
	}
	return c, why, nil
}

// defaultCompressorName chooses the default compressor for the kernel
// version (empty: the newest in fsys) from the kernel's configuration:
// the root's /boot/config-VERSION, else proc (a gzip-compressed config)
// when the version is the running kernel's. It returns the name and a
// sentence saying why.
func defaultCompressorName(fsys *rootfs.FS, version, proc string) (name, why string) {
	if version == "" {
		version, _ = kmod.DefaultKernelVersion(fsys)
	}
	running := runningKernel()
	if version == "" && fsys.Root() == "/" {
		version = running
	}
	if version == "" {
		return "zstd", "zstd: no target kernel (no modules in the root) whose config could say otherwise"
	}
	origin := "/boot/config-" + version
	config, err := fsys.ReadFile(origin)
	if err != nil && version == running {
		origin = proc
		config, err = readGzip(proc)
	}
	if err != nil {
		return "zstd", fmt.Sprintf("zstd: no config of kernel %s says otherwise (%s: %v)", version, origin, rootfs.Cause(err))
	}
	return chooseFromConfig(config, origin, version)
}

// chooseFromConfig returns the compressor a kernel built with config
// unpacks: zstd, else gzip, else none.
func chooseFromConfig(config []byte, origin, version string) (name, why string) {
	opts := kernelOptions(config, "CONFIG_RD_ZSTD", "CONFIG_RD_GZIP")
	switch {
	case opts["CONFIG_RD_ZSTD"]:
		return "zstd", fmt.Sprintf("zstd: kernel %s unpacks it (CONFIG_RD_ZSTD=y in %s)", version, origin)
	case opts["CONFIG_RD_GZIP"]:
		return "gzip", fmt.Sprintf("gzip: kernel %s cannot unpack zstd (no CONFIG_RD_ZSTD=y in %s)", version, origin)
	}
	return "none", fmt.Sprintf("none: kernel %s unpacks neither zstd nor gzip (no CONFIG_RD_ZSTD=y nor CONFIG_RD_GZIP=y in %s)", version, origin)
}

// kernelOptions reports which of names a kernel config sets to y: a
// built-in decompressor is y, never m, since the kernel unpacks the
// initrd before it loads any module.
func kernelOptions(config []byte, names ...string) map[string]bool {
	set := make(map[string]bool, len(names))
	sc := bufio.NewScanner(bytes.NewReader(config))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), "=")
		if !ok || value != "y" {
			continue
		}
		for _, n := range names {
			if name == n {
				set[n] = true
			}
		}
	}
	return set
}

// readGzip reads a whole gzip-compressed file.
func readGzip(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return data, nil
}

// runningKernel returns the release of the running kernel, as uname -r
// prints it, or "" if it cannot be read.
func runningKernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
