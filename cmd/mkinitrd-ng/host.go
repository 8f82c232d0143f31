package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mkinitrd-ng/mkinitrd-ng/host"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// hostCommand proposes a manifest for the machine it runs on.
func hostCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("host", "[-o FILE] [--sysroot DIR] [--root DIR] [--kernel-version VERSION] [--generic] [--explain]", stderr)
	output := fl.StringP("output", "o", "-", "write the manifest to `FILE` (- for standard output)")
	sysroot := fl.String("sysroot", "/", "read /proc, /sys, /dev and /etc of the machine from `DIR`")
	root := fl.String("root", "", "the tree the image is built from, whose modules and fragments are checked (default: --sysroot)")
	kver := fl.String("kernel-version", "", "the kernel `VERSION` the image is for (default: the newest in the root)")
	generic := fl.Bool("generic", false, "propose every storage controller and file system, for other hardware")
	explain := fl.Bool("explain", false, "also say on standard error why each item is there")
	if _, code, done := parseSub(fl, args, 0, stderr); done {
		return code
	}
	sys, err := rootfs.New(*sysroot)
	if err != nil {
		return failed(fl, stderr, err)
	}
	defer sys.Close()
	opts := host.Options{KernelVersion: *kver, Generic: *generic}
	if *root != "" {
		if opts.Root, err = rootfs.New(*root); err != nil {
			return failed(fl, stderr, err)
		}
		defer opts.Root.Close()
	}
	res, err := host.Detect(sys, opts)
	if err != nil {
		return failed(fl, stderr, err)
	}
	if *explain {
		fmt.Fprint(stderr, res.Explain())
	}
	text, err := res.JSON()
	if err == nil {
		err = writeTo(*output, stdout, func(_ context.Context, w io.Writer) error {
			_, err := w.Write(text)
			return err
		})
	}
	if err != nil {
		return failed(fl, stderr, err)
	}
	return exitOK
}
