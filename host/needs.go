package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// layerNeeds adds what one layer of a stack needs.
func (d *detector) layerNeeds(l *Layer, stack string) error {
	switch l.Kind {
	case Crypt:
		return d.crypt(l, stack)
	case LVM:
		d.need("include", "lvm", fmt.Sprintf("%s is an LVM volume (%s)", l.Name, stack))
	case MD:
		d.need("include", "mdraid", fmt.Sprintf("%s is an md %s array (%s)", l.Name, l.Detail, stack))
		if mod := raidModule(l.Detail); mod != "" {
			d.module(mod, fmt.Sprintf("the %s personality of %s", l.Detail, l.Name))
		}
	case DM:
		d.note("%s is a device-mapper device (%s) of a kind this detection does not know: add what it needs", l.Name, l.Detail)
	case Disk:
		for _, drv := range l.Drivers {
			d.driverNeeds(drv, fmt.Sprintf("controller of %s: driver %s", l.Name, drv.Name))
		}
	}
	return nil
}

// raidModule names the module of an md personality.
func raidModule(level string) string {
	switch level {
	case "raid0", "raid1", "raid10", "linear":
		return level
	case "raid4", "raid5", "raid6":
		return "raid456"
	}
	return ""
}

// driverNeeds adds the module of a driver, asking the image's kernel by
// the running kernel's module name, then by the driver's name, then by
// the device's modalias: a driver built into the running kernel may be a
// module of the image's, and a modalias may match more drivers than the
// one bound.
func (d *detector) driverNeeds(drv Driver, why string) {
	for _, key := range []string{drv.Module, drv.Name, drv.Alias} {
		if key == "" {
			continue
		}
		if mods, builtin, err := d.kernel.Lookup(key); err == nil {
			if builtin && len(mods) == 0 {
				d.note("driver %s is built into kernel %s (%s)", drv.Name, d.kernel.Version(), why)
				return
			}
			d.module(key, why)
			return
		}
	}
	d.note("driver %s: no module of kernel %s matches it (%s)", drv.Name, d.kernel.Version(), why)
}

// crypt adds what a dm-crypt layer needs: the luks fragment, a keyboard
// for the passphrase, its crypttab line, and a TPM2 if its header has a
// TPM2 token.
func (d *detector) crypt(l *Layer, stack string) error {
	why := fmt.Sprintf("%s is %s encrypted (%s)", l.Name, l.Detail, stack)
	d.need("include", "luks", why)
	d.keyboard(fmt.Sprintf("a passphrase for %s is typed at boot", l.Name))
	d.keymap(fmt.Sprintf("a passphrase for %s is typed at boot", l.Name))
	name := d.attr(l.Dir, "dm/name")
	uuid := luksUUID(d.attr(l.Dir, "dm/uuid"))
	if err := d.crypttabLine(name, uuid, why); err != nil {
		return err
	}
	if len(l.Below) == 1 {
		d.tokens(l.Below[0].Name, why)
	}
	return nil
}

// luksUUID returns the LUKS UUID a dm-crypt uuid holds
// (CRYPT-LUKS2-<32 hex digits>-<name>), without dashes, lower case.
func luksUUID(dmUUID string) string {
	parts := strings.SplitN(dmUUID, "-", 4)
	if len(parts) < 3 || !strings.HasPrefix(parts[1], "LUKS") {
		return ""
	}
	return strings.ToLower(parts[2])
}

// crypttabLine adds the /etc/crypttab line of the mapping name, found
// by name or by the UUID of its LUKS header, and its key file.
func (d *detector) crypttabLine(name, uuid, why string) error {
	if d.crypttab == nil {
		data, err := d.sys.ReadFile("/etc/crypttab")
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("/etc/crypttab: %w", err)
		}
		d.crypttab = parseCrypttab(data)
	}
	for _, c := range d.crypttab {
		dev := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(c.device, "UUID="), "-", ""))
		if c.name != name && (uuid == "" || dev != uuid) {
			continue
		}
		d.need("", "/etc/crypttab: "+c.name, why)
		d.addCrypttab(c)
		if c.hasKeyFile() {
			d.contents = append(d.contents, resolve.Content{Source: c.keyFile})
			d.need("", c.keyFile, "the key file of crypttab's "+c.name)
			d.note("the key file %s is copied into the image: keep the image as secret as the key", c.keyFile)
		}
		return nil
	}
	d.note("no /etc/crypttab line names %s: systemd unlocks it only if the kernel command line says rd.luks.uuid=", name)
	return nil
}

// addCrypttab adds a line to the image's /etc/crypttab.
func (d *detector) addCrypttab(c crypttabLine) {
	for i := range d.contents {
		if d.contents[i].Target == "/etc/crypttab" {
			text := *d.contents[i].Text + c.text + "\n"
			d.contents[i].Text = &text
			return
		}
	}
	text := c.text + "\n"
	d.contents = append(d.contents, resolve.Content{Target: "/etc/crypttab", Text: &text, Mode: "0600"})
}

// tokens reads the LUKS2 header of the device name for the tokens that
// unlock it without a passphrase.
func (d *detector) tokens(name, why string) {
	f, err := d.sys.Open("/dev/" + name)
	if err != nil {
		d.note("/dev/%s: cannot read its LUKS header: %v", name, err)
		return
	}
	defer f.Close()
	types, err := luksTokens(f)
	if err != nil {
		d.note("/dev/%s: %v", name, err)
		return
	}
	for _, t := range types {
		switch t {
		case "systemd-tpm2":
			d.need("include", "tpm2", "a TPM2 token unlocks it: "+why)
		case "systemd-fido2":
			d.note("/dev/%s has a FIDO2 token: no fragment brings FIDO2 unlocking yet", name)
		}
	}
}

// keyboard adds what typing at boot needs: the keyboard fragment, and
// the modules of the keyboards this machine has.
func (d *detector) keyboard(why string) {
	if d.hasFragment("keyboard") {
		d.need("include", "keyboard", why)
	}
	if d.keyboards {
		return
	}
	d.keyboards = true
	inputs, err := d.sys.ReadDir("/sys/class/input")
	if err != nil {
		return
	}
	for _, e := range inputs {
		dir, _, err := d.sys.Resolve("/sys/class/input/" + e.Name())
		if err != nil || !hasKeys(d.attr(dir, "capabilities/ev")) {
			continue
		}
		dev, _, err := d.sys.Resolve(dir + "/device")
		if err != nil {
			continue
		}
		for ; strings.HasPrefix(dev, "/sys/devices/"); dev = parentDir(dev) {
			if drv, ok := d.driver(dev); ok {
				d.driverNeeds(drv, fmt.Sprintf("keyboard %s: driver %s", d.attr(dir, "name"), drv.Name))
			}
		}
	}
}

// keymap adds the console keymap a passphrase is typed with, unless it
// is the kernel's own US one. Debian's console-setup compiles the
// layout of /etc/default/keyboard into /etc/console-setup/cached_*.kmap.gz,
// which the keymap fragment loads.
func (d *detector) keymap(why string) {
	if d.keymaps {
		return
	}
	d.keymaps = true
	data, err := d.sys.ReadFile("/etc/default/keyboard")
	if err != nil {
		return
	}
	layout := shellValue(data, "XKBLAYOUT")
	if layout == "" || layout == "us" {
		return
	}
	var cached []string
	entries, _ := d.sys.ReadDir("/etc/console-setup")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cached_") && strings.HasSuffix(e.Name(), ".kmap.gz") {
			cached = append(cached, "/etc/console-setup/"+e.Name())
		}
	}
	if len(cached) == 0 || !d.hasFragment("keymap") {
		d.note("the keyboard layout is %s, but there is no /etc/console-setup/cached_*.kmap.gz (setupcon --save-only writes it) or no keymap fragment: the passphrase is read with the US keymap", layout)
		return
	}
	d.need("include", "keymap", fmt.Sprintf("the keyboard layout is %s (/etc/default/keyboard); %s", layout, why))
	d.contents = append(d.contents, resolve.Content{Source: cached[0], Target: keymapTarget})
	d.need("", cached[0], "the compiled console keymap of layout "+layout)
}

// keymapTarget is where the keymap fragment's unit loads a keymap from.
const keymapTarget = "/etc/mkinitrd-ng/keymap.kmap.gz"

// shellValue returns the value of a NAME=value or NAME="value" line of
// a shell variables file.
func shellValue(data []byte, name string) string {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}

// hasKeys reports whether an input device's event bitmap (hex) has
// EV_KEY, bit 1.
func hasKeys(ev string) bool {
	v, err := strconv.ParseUint(ev, 16, 64)
	return err == nil && v&2 != 0
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// microcode asks for the CPU's early microcode when the build root has
// the vendor's files.
func (d *detector) microcode() {
	data, _ := d.sys.ReadFile("/proc/cpuinfo")
	for _, line := range bytes.Split(data, []byte("\n")) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok || strings.TrimSpace(k) != "vendor_id" {
			continue
		}
		vendor := strings.TrimSpace(v)
		dir := map[string]string{"GenuineIntel": "intel-ucode", "AuthenticAMD": "amd-ucode"}[vendor]
		if dir == "" {
			return
		}
		if _, err := d.root.Stat("/lib/firmware/" + dir); err != nil {
			d.note("the CPU is %s, but the root has no /lib/firmware/%s for early microcode", vendor, dir)
			return
		}
		d.res.Manifest.Microcode = true
		d.need("", "microcode", "the CPU is "+vendor)
		return
	}
}

// vconsole copies the console's keymap and font settings, so that a
// passphrase typed on a keyboard other than the US layout works.
func (d *detector) vconsole() {
	if _, err := d.sys.Stat("/etc/vconsole.conf"); err == nil {
		d.contents = append(d.contents, resolve.Content{Source: "/etc/vconsole.conf"})
		d.need("", "/etc/vconsole.conf", "the console's keymap and font")
	}
}

// generic proposes every storage layer, controller and file system.
func (d *detector) generic() {
	for _, f := range []string{"luks", "lvm", "mdraid", "virtio", "nvme", "ahci", "scsi", "usb-storage", "keyboard", "ext4", "xfs", "btrfs", "vfat"} {
		if d.hasFragment(f) {
			d.need("include", f, "generic image")
		}
	}
	mods := d.kernel.ModulesUnder("kernel/drivers/ata", "kernel/drivers/nvme", "kernel/drivers/scsi",
		"kernel/drivers/block", "kernel/drivers/md", "kernel/drivers/virtio", "kernel/drivers/usb/storage",
		"kernel/drivers/mmc", "kernel/fs")
	d.res.Manifest.Modules = &resolve.Modules{Include: mods}
	d.need("", fmt.Sprintf("%d modules to include", len(mods)), "every storage and file system module of kernel "+d.kernel.Version()+", for udev to load on demand")
}

// result finishes the manifest.
func (d *detector) result() *Result {
	m := d.res.Manifest
	m.Include = sortedKeys(d.include)
	if len(d.load) > 0 {
		if m.Modules == nil {
			m.Modules = &resolve.Modules{}
		}
		m.Modules.Load = sortedKeys(d.load)
	}
	m.Contents = d.contents
	slices.SortFunc(d.res.Reasons, func(a, b Reason) int { return strings.Compare(a.Item, b.Item) })
	slices.Sort(d.res.Notes)
	return &d.res
}

func sortedKeys(set map[string]bool) []string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// JSON renders the manifest readably and stably: keys sorted, one item
// a line.
func (r *Result) JSON() ([]byte, error) {
	data, err := json.Marshal(r.Manifest)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(v, "", "  ")
	return append(out, '\n'), err
}

// Explain says why each item is there, one line each, then the notes.
func (r *Result) Explain() string {
	var b strings.Builder
	for _, s := range r.Stacks {
		fmt.Fprintf(&b, "stack: %s\n", s)
	}
	for _, x := range r.Reasons {
		fmt.Fprintf(&b, "%s: %s\n", x.Item, x.Why)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}
