package host

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Kind is what one layer of a block device stack is.
type Kind int

// The layers a root's block device stack can have.
const (
	Disk      Kind = iota // a whole disk, on a controller
	Partition             // a partition of the layer below
	Crypt                 // a dm-crypt mapping (LUKS or plain)
	LVM                   // an LVM logical volume
	MD                    // an md RAID array
	DM                    // another device-mapper target
)

var kindNames = [...]string{"disk", "partition", "crypt", "lvm", "md", "dm"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Layer is one block device of a stack.
type Layer struct {
	Kind   Kind
	Name   string // the kernel's name: vda, nvme0n1p2, dm-0, md0
	Dir    string // its sysfs directory
	Detail string // "LUKS2", "raid1", the dm name...
	// Below are the layers it is made of: the slaves of a dm or md
	// device, the disk of a partition.
	Below []*Layer
	// Drivers are the drivers of a disk's controller chain, from the
	// disk up.
	Drivers []Driver
}

// Driver is a device's driver and what names its module: the module the
// running kernel loaded it from, else the device's modalias, else the
// driver's name.
type Driver struct {
	Device string // the device's sysfs directory
	Name   string // the driver's name
	Module string // the running kernel's module, "" if built in
	Alias  string // the device's modalias, "" if it has none
}

// Key is what a kernel's module index is asked for this driver.
func (d Driver) Key() string {
	switch {
	case d.Module != "":
		return d.Module
	case d.Alias != "":
		return d.Alias
	}
	return d.Name
}

// String describes the layer and those below it, as "dm-0 (LUKS2) on
// nvme0n1p2 on nvme0n1".
func (l *Layer) String() string {
	s := l.Name
	if l.Detail != "" {
		s += " (" + l.Detail + ")"
	}
	var below []string
	for _, b := range l.Below {
		below = append(below, b.String())
	}
	switch len(below) {
	case 0:
		return s
	case 1:
		return s + " on " + below[0]
	}
	return s + " on [" + strings.Join(below, ", ") + "]"
}

// Walk calls fn for l and every layer below it, depth first.
func (l *Layer) Walk(fn func(*Layer)) {
	fn(l)
	for _, b := range l.Below {
		b.Walk(fn)
	}
}

// maxDepth bounds a stack: sysfs has no loops, but a replayed tree may.
const maxDepth = 16

// layer reads the block device whose sysfs directory is dir.
func (d *detector) layer(dir string, depth int) (*Layer, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: block devices nested more than %d deep", dir, maxDepth)
	}
	l := &Layer{Name: path.Base(dir), Dir: dir}
	var err error
	switch {
	case d.exists(dir, "dm/uuid"):
		err = d.dmLayer(l, depth)
	case d.exists(dir, "md/level"):
		l.Kind, l.Detail = MD, d.attr(dir, "md/level")
		err = d.slaves(l, depth)
	case d.exists(dir, "partition"):
		l.Kind = Partition
		var disk *Layer
		if disk, err = d.layer(path.Dir(dir), depth+1); err == nil {
			l.Below = []*Layer{disk}
		}
	default:
		l.Kind = Disk
		l.Drivers, err = d.controllers(dir)
	}
	return l, err
}

// dmLayer reads a device-mapper device: its uuid says what made it.
func (d *detector) dmLayer(l *Layer, depth int) error {
	uuid := d.attr(l.Dir, "dm/uuid")
	name := d.attr(l.Dir, "dm/name")
	switch {
	case strings.HasPrefix(uuid, "CRYPT-"):
		l.Kind = Crypt
		l.Detail = strings.SplitN(strings.TrimPrefix(uuid, "CRYPT-"), "-", 2)[0]
	case strings.HasPrefix(uuid, "LVM-"):
		l.Kind, l.Detail = LVM, name
	default:
		l.Kind, l.Detail = DM, name
	}
	return d.slaves(l, depth)
}

// slaves reads the devices a dm or md device is made of.
func (d *detector) slaves(l *Layer, depth int) error {
	entries, err := d.sys.ReadDir(l.Dir + "/slaves")
	if err != nil {
		return fmt.Errorf("%s: %w", l.Dir+"/slaves", err)
	}
	if len(entries) == 0 {
		return fmt.Errorf("%s: %s device with no slaves", l.Name, l.Kind)
	}
	for _, e := range entries {
		dir, _, err := d.sys.Resolve(l.Dir + "/slaves/" + e.Name())
		if err != nil {
			return err
		}
		below, err := d.layer(dir, depth+1)
		if err != nil {
			return err
		}
		l.Below = append(l.Below, below)
	}
	return nil
}

// controllers returns the drivers from a disk's device up to the top of
// /sys/devices: the disk's own driver (sd, virtio_blk), then its host
// adapter, bus and bridges.
func (d *detector) controllers(dir string) ([]Driver, error) {
	dev, _, err := d.sys.Resolve(dir + "/device")
	if err != nil || !strings.HasPrefix(dev, "/sys/devices/") {
		if d.exists(dir, "device") {
			return nil, fmt.Errorf("%s/device: %v", dir, err)
		}
		return nil, nil // a virtual disk: a loop or ram device
	}
	var drivers []Driver
	for ; dev != "/sys/devices" && dev != "/"; dev = path.Dir(dev) {
		drv, ok := d.driver(dev)
		if ok && !slices.ContainsFunc(drivers, func(x Driver) bool { return x.Name == drv.Name }) {
			drivers = append(drivers, drv)
		}
	}
	return drivers, nil
}

// driver returns the driver bound to the device at dev, if any.
func (d *detector) driver(dev string) (Driver, bool) {
	drvDir, _, err := d.sys.Resolve(dev + "/driver")
	if err != nil || !d.exists(dev, "driver") {
		return Driver{}, false
	}
	drv := Driver{Device: dev, Name: path.Base(drvDir), Alias: d.attr(dev, "modalias")}
	if mod, _, err := d.sys.Resolve(drvDir + "/module"); err == nil && d.exists(drvDir, "module") {
		drv.Module = path.Base(mod)
	}
	return drv, true
}

// exists reports whether dir/name exists (a symlink counts, even
// dangling).
func (d *detector) exists(dir, name string) bool {
	_, err := d.sys.Lstat(dir + "/" + name)
	return err == nil
}

// attr returns a sysfs attribute's value without its trailing newline,
// "" when it cannot be read.
func (d *detector) attr(dir, name string) string {
	data, err := d.sys.ReadFile(dir + "/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// deviceDir returns the sysfs directory of the block device a mount is
// on: by its device number, or, for a file system whose mounts carry an
// anonymous number (btrfs), by its source's name.
func (d *detector) deviceDir(m mount) (string, error) {
	dir, _, err := d.sys.Resolve("/sys/dev/block/" + m.devID)
	if err == nil && d.exists(dir, "dev") {
		return dir, nil
	}
	if !strings.HasPrefix(m.source, "/dev/") {
		return "", fmt.Errorf("%s is %s from %q, which is no block device (device %s is not in /sys/dev/block)", m.point, m.fstype, m.source, m.devID)
	}
	src, _, err := d.sys.Resolve(m.source)
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.source, err)
	}
	dir, _, err = d.sys.Resolve("/sys/class/block/" + path.Base(src))
	if err != nil || !d.exists(dir, "dev") {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			err = fs.ErrNotExist
		}
		return "", fmt.Errorf("%s is on %s, which /sys/class/block does not list: %w", m.point, m.source, err)
	}
	return dir, nil
}
