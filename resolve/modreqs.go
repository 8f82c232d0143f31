package resolve

import (
	"path"

	"github.com/mkinitrd-ng/mkinitrd-ng/kmod"
)

// Modules selects kernel modules and firmware (manifest "modules").
type Modules struct {
	// KernelVersion names /lib/modules/VERSION; empty means the newest
	// (the --kernel-version flag wins).
	KernelVersion string `json:"kernelVersion,omitempty"`
	// Load are included and loaded at boot by systemd-modules-load.
	Load []string `json:"load,omitempty"`
	// Include are included only, for udev to load on demand.
	Include []string `json:"include,omitempty"`
	// Firmware adds the firmware files the modules declare.
	Firmware bool `json:"firmware,omitempty"`
	// Decompress stores .ko.xz/.ko.zst/.ko.gz modules uncompressed.
	Decompress bool `json:"decompress,omitempty"`
}

// fromModules returns the requests for the manifest's kernel modules,
// their firmware and the modprobe.d files, and records the module
// indexes it generates.
func (r *resolver) fromModules() ([]request, error) {
	mods := r.m.Modules
	if mods == nil {
		return nil, nil
	}
	opts := kmod.Options{KernelVersion: mods.KernelVersion, Load: mods.Load, Include: mods.Include,
		Firmware: mods.Firmware, Decompress: mods.Decompress}
	if r.opts.KernelVersion != "" {
		opts.KernelVersion = r.opts.KernelVersion
	}
	res, err := kmod.Resolve(r.fs, opts)
	if err != nil {
		return nil, err
	}
	var queue []request
	for _, f := range append(append(res.Modules, res.Firmware...), res.Config...) {
		f.Why = r.m.withOrigin("load", r.m.withOrigin("include", f.Why))
		if f.Decompress {
			r.placeGenerated(Entry{Path: f.Path, Kind: File, Source: f.Source, Size: f.Size, Mode: 0o644,
				Decompress: true, Why: f.Why, From: f.From})
			continue
		}
		r.alreadyRead[r.realPath(f.Source)] = knownFile{data: f.Data, opaque: f.Data == nil}
		queue = append(queue, request{path: f.Source, why: f.Why, from: r.realPath(f.From)})
	}
	for _, g := range res.Generated {
		r.placeGenerated(Entry{Path: g.Path, Kind: File, Data: g.Data, Size: int64(len(g.Data)), Mode: 0o644, Why: g.Why})
	}
	r.warnings = append(r.warnings, res.Warnings...)
	return queue, nil
}

// placeGenerated adds an entry whose content is made, not copied, at its
// path as the root would resolve it: /lib/modules/... lands under
// /usr/lib on a merged-/usr root, with /lib kept as the symlink it is,
// so that no entry sits below a symlink entry.
func (r *resolver) placeGenerated(e Entry) {
	dir, links, err := r.fs.Resolve(path.Dir(e.Path))
	if err == nil {
		var o outcome
		q := request{path: e.Path, why: e.Why, from: e.From}
		e.Why, e.From = r.linkEntries(&o, links, &q)
		for i := range o.entries {
			r.add(&o.entries[i])
		}
		e.Path = path.Join(dir, path.Base(e.Path))
	}
	r.add(&e)
}

// realPath returns where p lies once its symlinks are followed (p itself
// when it cannot be resolved), the path its entry has.
func (r *resolver) realPath(p string) string {
	if p == "" {
		return p
	}
	if real, _, err := r.fs.Resolve(p); err == nil {
		return real
	}
	return p
}
