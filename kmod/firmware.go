package kmod

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// FirmwareDir is where the kernel looks for firmware.
const FirmwareDir = "/lib/firmware"

// firmwareSuffixes are tried in the kernel's order: the plain file in
// every directory first, then a zstd, then an xz compressed one
// (drivers/base/firmware_loader/main.c).
var firmwareSuffixes = []string{"", ".zst", ".xz"}

// firmwareDirs are the kernel's search directories for version ver, in
// its order.
func firmwareDirs(ver string) []string {
	return []string{
		path.Join(FirmwareDir, "updates", ver),
		path.Join(FirmwareDir, "updates"),
		path.Join(FirmwareDir, ver),
		FirmwareDir,
	}
}

// firmware returns the firmware files the included modules declare
// (modinfo firmware=), as the kernel would find them. A name that is not
// found is a warning: many drivers list firmware for hardware variants
// that a given machine does not have.
func (r *resolver) firmware() []File {
	byPath := map[string]File{}
	for _, inc := range r.sorted() {
		names := inc.facts.info.Get("firmware")
		var missing []string
		for _, name := range names {
			found := r.findFirmware(name)
			if len(found) == 0 {
				missing = append(missing, name)
				continue
			}
			for _, p := range found {
				if _, ok := byPath[p]; ok {
					continue
				}
				f := File{Path: p, Source: p, Why: "firmware " + name + " of module " + inc.m.name, From: r.initrdPath(inc.m)}
				if fi, err := r.fsys.Stat(p); err == nil {
					f.Size = fi.Size()
				}
				byPath[p] = f
			}
		}
		if len(missing) > 0 {
			r.warns = append(r.warns, fmt.Sprintf("module %s: firmware not found in %s: %s", inc.m.name, FirmwareDir, strings.Join(missing, ", ")))
		}
	}
	out := make([]File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// findFirmware returns where the kernel would find firmware name: one
// path, or for a name with wildcards (brcmfmac declares some) every
// match, the first directory winning for each.
func (r *resolver) findFirmware(name string) []string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		return nil
	}
	if !hasGlob(name) {
		for _, suf := range firmwareSuffixes {
			for _, dir := range firmwareDirs(r.ver) {
				p := path.Join(dir, name+suf)
				if fi, err := r.fsys.Stat(p); err == nil && fi.Mode().IsRegular() {
					return []string{p}
				}
			}
		}
		return nil
	}
	sub, pattern := path.Split(name)
	if hasGlob(sub) {
		return nil // wildcards in directories: no driver declares them
	}
	seen := map[string]bool{}
	var out []string
	for _, suf := range firmwareSuffixes {
		for _, dir := range firmwareDirs(r.ver) {
			d := path.Join(dir, sub)
			ents, err := r.fsys.ReadDir(d)
			if err != nil {
				continue
			}
			for _, e := range ents {
				n := e.Name()
				if !strings.HasSuffix(n, suf) || (suf == "" && compression(n) != "") {
					continue
				}
				base := strings.TrimSuffix(n, suf)
				if seen[base] || !fnmatch(pattern, base) {
					continue
				}
				p := path.Join(d, n)
				if fi, err := r.fsys.Stat(p); err == nil && fi.Mode().IsRegular() {
					seen[base] = true
					out = append(out, p)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
