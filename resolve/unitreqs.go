package resolve

import (
	"io/fs"
	"path"

	"github.com/mkinitrd-ng/mkinitrd-ng/units"
)

// fromUnits returns the requests that the manifest's systemd units make:
// their files, drop-ins and .wants links, the links to create, and the
// programs their Exec*= lines run. A unit file that is a symlink to
// /dev/null (a masked unit) becomes that symlink and nothing more.
func (r *resolver) fromUnits() ([]request, error) {
	if len(r.m.Units) == 0 && len(r.m.Wants) == 0 {
		return nil, nil
	}
	opts := units.Options{Dirs: r.m.UnitDirs, FollowWants: r.m.FollowWants == nil || *r.m.FollowWants, Wants: r.m.Wants}
	res, err := units.Closure(r.fs, r.m.Units, opts)
	if err != nil {
		return nil, err
	}
	var queue []request
	push := func(q request) {
		if es, ok := r.maskLink(q); ok {
			for i := range es {
				r.add(&es[i])
			}
			return
		}
		queue = append(queue, q)
	}
	for _, it := range res.Items {
		if it.Data != nil {
			r.known[r.realPath(it.Path)] = knownFile{data: it.Data}
		}
		push(request{path: it.Path, why: it.Why, program: true})
	}
	for _, l := range res.Links {
		r.add(&Entry{Path: l.Path, Kind: Symlink, LinkTarget: l.Target, Mode: 0o777, Why: l.Why})
		push(request{path: l.Target, why: "target of " + l.Path, from: l.Path, program: true})
	}
	for _, x := range res.Execs {
		queue = append(queue, request{path: x.Path, why: x.Why, program: true})
	}
	r.warnings = append(r.warnings, res.Warnings...)
	return queue, nil
}

// maskLink returns the entries of q when q.path is a symlink that masks a
// unit: one that leads to /dev/null. The link is kept with its text (and
// the symlinks of its directory part as symlinks), but /dev/null is not
// requested: it is a device node, which is never copied from the root,
// and the booted system's devtmpfs provides it, where systemd sees the
// mask.
func (r *resolver) maskLink(q request) ([]Entry, bool) {
	dir, links, err := r.fs.Resolve(path.Dir(q.path))
	if err != nil {
		return nil, false
	}
	p := path.Join(dir, path.Base(q.path))
	fi, err := r.fs.Lstat(p)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil, false
	}
	text, err := r.fs.Readlink(p)
	if err != nil {
		return nil, false
	}
	if path.Clean(text) != "/dev/null" {
		if final, _, err := r.fs.Resolve(p); err != nil || final != "/dev/null" {
			return nil, false
		}
	}
	var o outcome
	why, from := r.linkEntries(&o, links, &q)
	o.entries = append(o.entries, Entry{Path: p, Kind: Symlink, LinkTarget: text, Mode: 0o777,
		Why: why + " (masked: a link to /dev/null)", From: from})
	return o.entries, true
}
