package inspect

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Side describes one of the two images of a Diff.
type Side struct {
	File string `json:"file"`
	// Size is the image's size in bytes, compressed as stored.
	Size int64 `json:"size"`
	// Uncompressed is the length of its cpio data.
	Uncompressed int64 `json:"uncompressed"`
	// Content is the sum of the file contents (each hard-linked content
	// once).
	Content int64    `json:"content"`
	Entries int      `json:"entries"`
	Formats []string `json:"formats"`
}

// Change is an entry present in both images that differs.
type Change struct {
	Path string `json:"path"`
	// Fields names what differs: "type", "mode", "owner", "size",
	// "link", "device", "content" (the data's hash), "hardlink".
	Fields    []string `json:"fields"`
	SizeDelta int64    `json:"size_delta"`
	Old       Entry    `json:"old"`
	New       Entry    `json:"new"`
}

// Group sums the differences of the entries of one group (a directory,
// a store path, a package).
type Group struct {
	Name       string `json:"name"`
	OldContent int64  `json:"old_content"`
	NewContent int64  `json:"new_content"`
	Delta      int64  `json:"delta"`
	OldEntries int    `json:"old_entries"`
	NewEntries int    `json:"new_entries"`
	Added      int    `json:"added"`
	Removed    int    `json:"removed"`
	Changed    int    `json:"changed"`
}

// Diff is what changed from one image to another. Entries are compared
// as the kernel leaves them (Image.Final), by path; mtimes, inode
// numbers and record order are not compared.
type Diff struct {
	Old Side `json:"old"`
	New Side `json:"new"`
	// CompressedDelta is New.Size - Old.Size: what a size gate checks.
	CompressedDelta   int64 `json:"compressed_delta"`
	UncompressedDelta int64 `json:"uncompressed_delta"`
	ContentDelta      int64 `json:"content_delta"`

	Added   []Entry  `json:"added"`
	Removed []Entry  `json:"removed"`
	Changed []Change `json:"changed"`

	// By is the grouping ("path" when none); Groups holds one line per
	// group that has entries in either image, largest change first.
	By     string  `json:"by"`
	Groups []Group `json:"groups,omitempty"`
}

// Grouping names the group an entry belongs to.
type Grouping func(e *Entry) string

// Compare computes the differences from old to new (named oldName and
// newName in the result). group may be nil (by is then "path").
func Compare(old, new *Image, oldName, newName, by string, group Grouping) *Diff {
	c := newComparison(oldName, newName, by, group)
	c.merge(finalsOf(old), finalsOf(new)) // slices do not fail
	return c.finish(old.Size, new.Size, old.Segments, new.Segments)
}

// An Opener opens an image for reading from its start. CompareStreams
// may open an image twice.
type Opener func() (io.ReadCloser, error)

// CompareStreams computes what Compare computes, reading the images as
// they are opened rather than from memory.
//
// It merges the two images' entries in path order as they are read, so
// that what it holds is the differences, which the Diff lists, not the
// entries. Images that mkinitrd-ng writes are sorted by path; an image
// of any other order (gen_init_cpio's, Debian's initramfs-tools') is
// found out when a path comes before the one read last. That image is
// then opened again and read into a packed form in memory, a few times
// smaller than its entries, which is sorted before the merge starts
// over; an image that is sorted keeps being read as a stream.
func CompareStreams(old, new Opener, oldName, newName, by string, group Grouping) (*Diff, error) {
	var packed [2]bool
	for {
		d, unsorted, err := compareOnce([2]Opener{old, new}, [2]string{oldName, newName}, packed, by, group)
		if unsorted < 0 || packed[unsorted] {
			return d, err
		}
		packed[unsorted] = true
	}
}

// compareOnce reads both images once, the packed ones into memory
// first. It returns the index of an image found unsorted, else -1.
func compareOnce(open [2]Opener, names [2]string, packed [2]bool, by string, group Grouping) (d *Diff, unsorted int, err error) {
	var rds [2]*Reader
	var fs [2]finals
	for i := range open {
		rc, err := open[i]()
		if err != nil {
			return nil, -1, err
		}
		defer rc.Close()
		rds[i] = NewReader(rc)
		if !packed[i] {
			p := newPrefetch(&streamFinals{r: rds[i]})
			defer p.close()
			fs[i] = p
		} else if fs[i], err = packFinals(rds[i]); err != nil {
			return nil, -1, fmt.Errorf("%s: %w", names[i], err)
		}
	}
	c := newComparison(names[0], names[1], by, group)
	sides := [2]*namedFinals{{f: fs[0], name: names[0]}, {f: fs[1], name: names[1]}}
	if err := c.merge(sides[0], sides[1]); err != nil {
		unsorted = -1
		for i, s := range sides {
			if s.unsorted {
				unsorted = i
			}
		}
		return nil, unsorted, err
	}
	return c.finish(rds[0].Size(), rds[1].Size(), rds[0].Segments(), rds[1].Segments()), -1, nil
}

// changedFields lists what differs between two entries of one path.
func changedFields(o, n *Entry) []string {
	var f []string
	if o.Type != n.Type {
		return []string{"type"}
	}
	if o.Mode != n.Mode {
		f = append(f, "mode")
	}
	if o.UID != n.UID || o.GID != n.GID {
		f = append(f, "owner")
	}
	if o.Size != n.Size {
		f = append(f, "size")
	}
	if o.Link != n.Link {
		f = append(f, "link")
	}
	if o.Major != n.Major || o.Minor != n.Minor {
		f = append(f, "device")
	}
	if o.SHA256 != n.SHA256 {
		f = append(f, "content")
	}
	if (o.HardLink == "") != (n.HardLink == "") {
		f = append(f, "hardlink")
	}
	return f
}

// sortedGroups returns the groups, largest change first.
func sortedGroups(byName map[string]*Group) []Group {
	out := make([]Group, 0, len(byName))
	for _, g := range byName {
		g.Delta = g.NewContent - g.OldContent
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if abs(a.Delta) != abs(b.Delta) {
			return abs(a.Delta) > abs(b.Delta)
		}
		ca, cb := a.Added+a.Removed+a.Changed, b.Added+b.Removed+b.Changed
		if ca != cb {
			return ca > cb
		}
		return a.Name < b.Name
	})
	return out
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// WriteText writes d for a terminal or a CI log: the two images, the
// size deltas, then either a table of groups or the added, removed and
// changed entries. It uses no colour or control characters: names and
// link targets are escaped as Escape does.
func (d *Diff) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, s := range []struct {
		label string
		side  *Side
	}{{"old", &d.Old}, {"new", &d.New}} {
		fmt.Fprintf(bw, "%s: %s: %d bytes (%s), %d entries, %d bytes uncompressed, %d bytes of file content\n",
			s.label, Escape(s.side.File), s.side.Size, strings.Join(s.side.Formats, "+"), s.side.Entries, s.side.Uncompressed, s.side.Content)
	}
	fmt.Fprintf(bw, "compressed size:   %s\n", deltaString(d.CompressedDelta, d.Old.Size))
	fmt.Fprintf(bw, "uncompressed size: %s\n", deltaString(d.UncompressedDelta, d.Old.Uncompressed))
	fmt.Fprintf(bw, "file content:      %s\n", deltaString(d.ContentDelta, d.Old.Content))
	fmt.Fprintf(bw, "entries: %d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))

	if d.Groups != nil {
		names := make([]string, len(d.Groups))
		width := len(d.By)
		for i, g := range d.Groups {
			names[i] = Escape(g.Name)
			width = max(width, len(names[i]))
		}
		fmt.Fprintf(bw, "\n%-*s %12s %12s %12s %6s %6s %6s\n", width, d.By, "old", "new", "delta", "added", "removed", "changed")
		for i, g := range d.Groups {
			fmt.Fprintf(bw, "%-*s %12d %12d %12s %6d %6d %6d\n", width, names[i], g.OldContent, g.NewContent,
				signed(g.Delta), g.Added, g.Removed, g.Changed)
		}
		return bw.Flush()
	}
	if len(d.Added) > 0 {
		fmt.Fprintf(bw, "\nadded:\n")
		for i := range d.Added {
			fmt.Fprintf(bw, "  + %s\n", entryLine(&d.Added[i]))
		}
	}
	if len(d.Removed) > 0 {
		fmt.Fprintf(bw, "\nremoved:\n")
		for i := range d.Removed {
			fmt.Fprintf(bw, "  - %s\n", entryLine(&d.Removed[i]))
		}
	}
	if len(d.Changed) > 0 {
		fmt.Fprintf(bw, "\nchanged:\n")
		for i := range d.Changed {
			fmt.Fprintf(bw, "  ~ %s\n", changeLine(&d.Changed[i]))
		}
	}
	return bw.Flush()
}

// entryLine is an entry in one line of a diff.
func entryLine(e *Entry) string {
	s := fmt.Sprintf("%s %d:%d %10d  %s", e.ModeString(), e.UID, e.GID, e.Size, Escape(e.Path))
	if e.Type == TypeSymlink {
		s += " -> " + Escape(e.Link)
	}
	return s
}

// changeLine says what changed about one path.
func changeLine(c *Change) string {
	parts := make([]string, 0, len(c.Fields))
	o, n := &c.Old, &c.New
	for _, f := range c.Fields {
		switch f {
		case "type":
			parts = append(parts, fmt.Sprintf("type %s -> %s", o.Type, n.Type))
		case "mode":
			parts = append(parts, fmt.Sprintf("mode %s -> %s", o.Mode, n.Mode))
		case "owner":
			parts = append(parts, fmt.Sprintf("owner %d:%d -> %d:%d", o.UID, o.GID, n.UID, n.GID))
		case "size":
			parts = append(parts, fmt.Sprintf("size %d -> %d (%s)", o.Size, n.Size, signed(c.SizeDelta)))
		case "link":
			parts = append(parts, fmt.Sprintf("link %s -> %s", Escape(o.Link), Escape(n.Link)))
		case "device":
			parts = append(parts, fmt.Sprintf("device %d:%d -> %d:%d", o.Major, o.Minor, n.Major, n.Minor))
		case "hardlink":
			parts = append(parts, fmt.Sprintf(`hard link "%s" -> "%s"`, Escape(o.HardLink), Escape(n.HardLink)))
		default:
			parts = append(parts, f)
		}
	}
	return Escape(c.Path) + ": " + strings.Join(parts, ", ")
}

func signed(n int64) string {
	if n > 0 {
		return "+" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// deltaString renders a change in bytes and, when the base is not
// zero, in percent.
func deltaString(delta, base int64) string {
	s := signed(delta) + " bytes"
	if base != 0 {
		s += fmt.Sprintf(" (%+.2f%%)", 100*float64(delta)/float64(base))
	}
	return s
}

// Limit is a size-growth limit: a number of bytes or a percentage of
// the old size.
type Limit struct {
	Bytes   int64
	Percent float64
	IsPct   bool
	Text    string // as given
}

// ParseLimit reads a limit: a number of bytes with an optional binary
// suffix ("500K", "1M", "1.5M", "2G", also "KiB", "MB"...; K = 1024), or
// a percentage ("5%").
func ParseLimit(s string) (Limit, error) {
	l := Limit{Text: s}
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return l, fmt.Errorf("limit %q: not a percentage such as 5%%", s)
		}
		l.Percent, l.IsPct = v, true
		return l, nil
	}
	num := strings.TrimRightFunc(t, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' })
	unit := strings.ToUpper(t[len(num):])
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
		"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}[unit]
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if mult == 0 || err != nil || v < 0 || v*mult > math.MaxInt64/2 || math.IsNaN(v) {
		return l, fmt.Errorf("limit %q: not a size such as 500K, 1M or 1048576, nor a percentage such as 5%%", s)
	}
	if mult == 1 && v != math.Trunc(v) {
		return l, fmt.Errorf("limit %q: a number of bytes is whole (give 1.5K or 1.5M for a fraction of a unit)", s)
	}
	l.Bytes = int64(math.Round(v * mult))
	return l, nil
}

// Exceeded reports whether growing from old to new bytes goes over the
// limit. Shrinking never does.
func (l Limit) Exceeded(old, new int64) bool {
	growth := new - old
	if growth <= 0 {
		return false
	}
	if !l.IsPct {
		return growth > l.Bytes
	}
	if old == 0 {
		return true
	}
	return 100*float64(growth)/float64(old) > l.Percent
}

// String renders the limit as given and, for sizes, in bytes.
func (l Limit) String() string {
	if l.IsPct {
		return l.Text
	}
	return fmt.Sprintf("%s (%d bytes)", l.Text, l.Bytes)
}
