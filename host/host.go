// Package host works out what the machine it runs on needs in an initrd
// to mount its root, the way dracut's hostonly mode, mkinitcpio's
// autodetect and booster's host mode do, and proposes it as a manifest.
//
// Every fact comes from the kernel's own tables, read through a root
// (normally "/", or a tree replaying another machine): the mounts from
// /proc/self/mountinfo, the block device stack through /sys/dev/block
// (dm and md slaves, dm uuids, md levels, partitions), the drivers of the
// disks' controllers and of the keyboards, the CPU vendor, /etc/crypttab
// and /etc/vconsole.conf. Driver names become modules of the kernel the
// image is for through package kmod, as modprobe would resolve them, and
// the layers become the fragments that ship with mkinitrd-ng. It only
// reads: the manifest it returns is input for package resolve.
package host

import (
	"fmt"
	"slices"

	"github.com/mkinitrd-ng/mkinitrd-ng/fragments"
	"github.com/mkinitrd-ng/mkinitrd-ng/kmod"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Options tune a detection.
type Options struct {
	// Root is the tree the image is built from, whose /lib/modules and
	// fragments are checked; nil is the tree detected.
	Root *rootfs.FS
	// KernelVersion is the kernel the image is for; empty is the newest
	// in Root.
	KernelVersion string
	// Generic proposes every storage controller and file system the
	// kernel ships instead of this machine's, for an image that must boot
	// on other hardware.
	Generic bool
}

// Reason says why the proposed manifest holds an item.
type Reason struct {
	Item string // "include luks", "load nvme", "microcode", "/etc/crypttab"
	Why  string
}

// Result is the proposed manifest and why each item is in it.
type Result struct {
	Manifest *resolve.Manifest
	Reasons  []Reason
	// Notes are facts found that need nothing in the image, or that the
	// image cannot provide: a built-in driver, a device with no module.
	Notes []string
	// Stacks are the block device stacks of the root and of a separate
	// /usr, as found.
	Stacks []*Layer
}

// detector holds one detection's state.
type detector struct {
	sys, root *rootfs.FS
	kernel    *kmod.Kernel
	res       Result
	include   map[string]bool
	load      map[string]bool
	contents  []resolve.Content
	crypttab  []crypttabLine
	keyboards bool
	keymaps   bool
}

// Detect proposes a manifest for the machine whose /proc, /sys, /dev and
// /etc are in sys. It fails, naming what it could not resolve, when the
// root's stack cannot be determined.
func Detect(sys *rootfs.FS, opts Options) (*Result, error) {
	root := opts.Root
	if root == nil {
		root = sys
	}
	k, err := kmod.OpenKernel(root, opts.KernelVersion)
	if err != nil {
		return nil, err
	}
	followWants := false
	d := &detector{sys: sys, root: root, kernel: k, include: map[string]bool{}, load: map[string]bool{},
		res: Result{Manifest: &resolve.Manifest{Compress: resolve.Command{Name: "zstd"}, FollowWants: &followWants}}}
	d.need("include", "base", "every image: systemd as /init with the units of an initrd boot")
	if opts.Generic {
		d.generic()
	} else if err := d.mounts(); err != nil {
		return nil, err
	}
	d.microcode()
	d.vconsole()
	return d.result(), nil
}

// need adds an item ("include NAME", "load NAME", or a bare item) with
// its reason.
func (d *detector) need(kind, name, why string) {
	item := name
	switch kind {
	case "include":
		d.include[name] = true
		item = "include " + name
	case "load":
		d.load[name] = true
		item = "load " + name
	}
	r := Reason{Item: item, Why: why}
	if !slices.Contains(d.res.Reasons, r) {
		d.res.Reasons = append(d.res.Reasons, r)
	}
}

func (d *detector) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(d.res.Notes, n) {
		d.res.Notes = append(d.res.Notes, n)
	}
}

// hasFragment reports whether a fragment can be included: the root's own
// or one that ships.
func (d *detector) hasFragment(name string) bool {
	if _, ok := fragments.Lookup(name); ok {
		return true
	}
	_, err := d.root.Stat(resolve.IncludeDir + "/" + name + ".json")
	return err == nil
}

// mounts finds the stacks of / and of a separate /usr.
func (d *detector) mounts() error {
	data, err := d.sys.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("cannot read the mounts: %w", err)
	}
	mounts, err := parseMountinfo(data)
	if err != nil {
		return fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	for _, point := range []string{"/", "/usr"} {
		m, ok := lastMount(mounts, point)
		if !ok {
			if point == "/" {
				return fmt.Errorf("/proc/self/mountinfo has no mount at /")
			}
			continue
		}
		if err := d.mountStack(m); err != nil {
			return fmt.Errorf("cannot determine what %s needs: %w", point, err)
		}
	}
	return nil
}

// mountStack adds what one mount's file system and block devices need.
func (d *detector) mountStack(m mount) error {
	dir, err := d.deviceDir(m)
	if err != nil {
		return err
	}
	top, err := d.layer(dir, 0)
	if err != nil {
		return err
	}
	d.res.Stacks = append(d.res.Stacks, top)
	desc := fmt.Sprintf("%s is %s on %s", m.point, m.fstype, top)
	// The top level, subvol=/, is what a mount without rootflags gets.
	if sub, ok := option(m.super, "subvol"); ok && m.fstype == "btrfs" && sub != "/" {
		desc += ", subvolume " + sub + " (give rootflags=subvol=" + sub + " on the kernel command line)"
	}
	d.fileSystem(m.fstype, desc)
	var err2 error
	top.Walk(func(l *Layer) {
		if e := d.layerNeeds(l, desc); e != nil && err2 == nil {
			err2 = e
		}
	})
	return err2
}

// fileSystem adds a file system's fragment, or else its module.
func (d *detector) fileSystem(fstype, why string) {
	if d.hasFragment(fstype) {
		d.need("include", fstype, why)
		return
	}
	d.module(fstype, why)
}

// module adds the modules a name stands for in the image's kernel; a
// built-in one needs none, and one the kernel lacks is noted.
func (d *detector) module(name, why string) bool {
	mods, builtin, err := d.kernel.Lookup(name)
	switch {
	case err != nil:
		d.note("%s: kernel %s has no module for it (%s)", name, d.kernel.Version(), why)
		return false
	case builtin:
		d.note("%s is built into kernel %s (%s)", name, d.kernel.Version(), why)
	}
	for _, m := range mods {
		if frag := controllerFragment(m); frag != "" && d.hasFragment(frag) {
			d.need("include", frag, why+": module "+m)
		} else {
			d.need("load", m, why)
		}
	}
	return true
}

// controllerFragment names the fragment that brings a controller's
// module, "" if none does.
func controllerFragment(module string) string {
	switch module {
	case "virtio_blk", "virtio_scsi", "virtio_pci":
		return "virtio"
	case "nvme":
		return "nvme"
	case "ahci":
		return "ahci"
	case "usb_storage", "uas":
		return "usb-storage"
	}
	return ""
}
