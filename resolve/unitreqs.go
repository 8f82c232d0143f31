package resolve

import (
	"github.com/mkinitrd-ng/mkinitrd-ng/units"
)

// fromUnits returns the requests that the manifest's systemd units make:
// their files, drop-ins and .wants links, the links to create, and the
// programs their Exec*= lines run. A unit file that is a symlink to
// /dev/null (a masked unit) becomes that symlink and nothing more, as
// every symlink into a runtime directory does (see handle).
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
	for _, it := range res.Items {
		if it.Data != nil {
			r.alreadyRead[r.realPath(it.Path)] = knownFile{data: it.Data}
		}
		queue = append(queue, request{path: it.Path, why: r.m.withOrigin("unit", it.Why), program: true})
	}
	for _, l := range res.Links {
		r.add(&Entry{Path: l.Path, Kind: Symlink, LinkTarget: l.Target, Mode: 0o777, Why: l.Why})
		queue = append(queue, request{path: l.Target, why: "target of " + l.Path, from: l.Path, program: true})
	}
	for _, x := range res.Execs {
		queue = append(queue, request{path: x.Path, why: x.Why, program: true})
	}
	r.warnings = append(r.warnings, res.Warnings...)
	return queue, nil
}
