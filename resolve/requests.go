package resolve

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/elfdeps"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
	"github.com/mkinitrd-ng/mkinitrd-ng/units"
)

// storeDirs returns the store directories, "/nix/store" by default.
func (m *Manifest) storeDirs() []string {
	if m.StoreDirs != nil {
		return m.StoreDirs
	}
	return []string{"/nix/store"}
}

// existingDirs keeps the directories that exist in the root: a store
// that is not there cannot be referenced, and then no file needs to be
// read for references at all.
func existingDirs(fsys *rootfs.FS, dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if fi, err := fsys.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// policy returns the dlopen policy of an entry: its own, else the
// manifest's. Libraries a note marks required are included unless the
// priority is "none": the program fails without them. Validate has
// checked the priority's name.
func (m *Manifest) policy(c *Content) elfdeps.DlopenPolicy {
	d := m.Dlopen
	if c != nil && c.Dlopen != nil {
		d = c.Dlopen
	}
	p := elfdeps.DlopenPolicy{Priority: elfdeps.PriorityRequired}
	if d == nil {
		return p
	}
	if d.Priority != "" {
		p.Priority, _ = elfdeps.ParsePriority(d.Priority)
	}
	p.Features = append([]string(nil), d.Features...)
	sort.Strings(p.Features)
	return p
}

// fromManifest records the manifest's explicit entries and returns the
// requests its sources make. Two entries that define one path
// differently are an error naming both.
func (r *resolver) fromManifest() ([]request, error) {
	var queue []request
	byPath := map[string]*Content{}
	var errs []error
	for i := range r.m.Contents {
		c := &r.m.Contents[i]
		source, err := r.sourceOf(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dest := c.Target
		if dest == "" {
			dest = source
		}
		dest = cleanAbs(dest)
		if prev, ok := byPath[dest]; ok {
			if !sameContent(prev, c) {
				errs = append(errs, fmt.Errorf("%s and %s both define %s, differently", prev.describe(), c.describe(), dest))
			}
			continue
		}
		byPath[dest] = c
		if e, ok := explicitEntry(c, dest); ok {
			r.explicit[dest] = e
			if e.Kind == File {
				queue = append(queue, r.inlineRequests(e)...)
			}
			continue
		}
		q := request{path: source, why: c.reason(), program: true, recurse: true,
			dlopen: r.m.policy(c), override: c}
		if c.Link {
			r.explicit[dest] = &Entry{Path: dest, Kind: Symlink, LinkTarget: cleanAbs(c.Source), Mode: 0o777, Why: q.why}
			q.override = nil
		} else if c.Target != "" {
			q.target = dest
		}
		queue = append(queue, q)
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return queue, nil
}

// sourceOf returns the path in the root that a content copies: its
// source, or where its program is found.
func (r *resolver) sourceOf(c *Content) (string, error) {
	if c.Program == "" {
		return c.Source, nil
	}
	if p := r.lookPath(c.Program); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%s: program %q not found in %s", c.describe(), c.Program, strings.Join(units.DefaultPath(), ":"))
}

// explicitEntry builds the entry of a content that needs no source.
func explicitEntry(c *Content, dest string) (*Entry, bool) {
	why := c.reason()
	e := &Entry{Path: dest, Why: why, Mode: 0o644}
	switch {
	case c.Text != nil:
		e.Kind, e.Data, e.Size = File, []byte(*c.Text), int64(len(*c.Text))
	case c.Symlink != nil:
		e.Kind, e.LinkTarget, e.Mode = Symlink, *c.Symlink, 0o777
	case c.Type == "dir":
		e.Kind, e.Mode = Dir, 0o755
	case c.Type == "char":
		e.Kind, e.Major, e.Minor, e.Mode = CharDev, *c.Major, *c.Minor, 0o600
	case c.Type == "block":
		e.Kind, e.Major, e.Minor, e.Mode = BlockDev, *c.Major, *c.Minor, 0o600
	case c.Type == "fifo":
		e.Kind = FIFO
	case c.Type == "socket":
		e.Kind, e.Mode = Socket, 0o755
	default:
		return nil, false
	}
	applyOverride(e, c)
	return e, true
}

func sameContent(a, b *Content) bool {
	x, y := *a, *b
	x.index, y.index = 0, 0
	return fmt.Sprintf("%+v", deref(x)) == fmt.Sprintf("%+v", deref(y))
}

// deref renders a content's pointer fields by value, for comparison.
func deref(c Content) []any {
	out := []any{c.Source, c.Target, c.Link, c.Type, c.Mode}
	for _, p := range []*string{c.Text, c.Symlink} {
		if p != nil {
			out = append(out, "set", *p)
		} else {
			out = append(out, nil)
		}
	}
	for _, p := range []*uint32{c.Major, c.Minor, c.UID, c.GID} {
		if p != nil {
			out = append(out, "set", *p)
		} else {
			out = append(out, nil)
		}
	}
	if c.Dlopen != nil {
		out = append(out, *c.Dlopen)
	}
	return out
}

func cleanAbs(p string) string { return path.Clean("/" + p) }

// inlineRequests returns what an inline text file pulls in: a script's
// interpreter, store paths it names.
func (r *resolver) inlineRequests(e *Entry) []request {
	var o outcome
	q := request{path: e.Path, why: e.Why}
	r.analyseData(&o, &q, e.Path, e.Data, bytes.NewReader(nil))
	r.errs = append(r.errs, o.errs...)
	r.warnings = append(r.warnings, o.warnings...)
	return o.next
}
