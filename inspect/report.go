package inspect

import (
	"sort"
)

// Changes of a file between two images, in a diff Report.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeGrown   = "grown"
	ChangeShrunk  = "shrunk"
	ChangeEdited  = "changed" // same size, other content or metadata
	ChangeSame    = "same"
)

// ReportFile is one file of a size report: one area of its picture.
type ReportFile struct {
	Path string `json:"path"`
	// Size is the bytes of its content: in the new image of a diff, in
	// the old one for a removed file.
	Size int64 `json:"size"`
	// OldSize is its size in the old image of a diff (0 for an added file).
	OldSize int64 `json:"old_size,omitempty"`
	// Compressed estimates its share of the compressed image: its size
	// times the compression ratio of its segment.
	Compressed int64  `json:"compressed"`
	Group      string `json:"group"`
	// Change is how it changed, in a diff: ChangeAdded, ChangeRemoved...
	Change string `json:"change,omitempty"`
	// Why is the chain of reasons that pulled it in, from the file back to
	// the manifest item, when the report was given a manifest.
	Why []string `json:"why,omitempty"`
}

// ReportGroup sums the files of one group.
type ReportGroup struct {
	Name       string `json:"name"`
	Files      int    `json:"files"`
	Size       int64  `json:"size"`
	OldSize    int64  `json:"old_size,omitempty"`
	Compressed int64  `json:"compressed"`
}

// Report is what a size picture shows: the files that hold data, each
// with its size and group, largest groups first and, in each group,
// largest files first. A file's size counts its content once, on the
// record that carries it (Entry.DataSize), so the sizes add up to the
// image's content; empty files and hard-link names without data have no
// area.
type Report struct {
	Image Side  `json:"image"`
	Old   *Side `json:"old,omitempty"` // the old image, for a diff
	// By names the grouping: "dir", "store-path", "package" or
	// "manifest-item".
	By     string        `json:"by"`
	Files  []ReportFile  `json:"files"`
	Groups []ReportGroup `json:"groups"`
}

// Explainer returns the chain of reasons that pulled a path in, or nil.
type Explainer func(path string) []string

// NewReport makes the report of img, named name, its files grouped by
// group (By is by); why may be nil.
func NewReport(img *Image, name, by string, group Grouping, why Explainer) *Report {
	r := &Report{Image: side(img, name), By: by}
	ratio := compressionRatios(img)
	for _, e := range img.Final() {
		if e.Type != TypeFile || e.DataSize == 0 {
			continue
		}
		r.Files = append(r.Files, ReportFile{Path: e.Path, Size: e.DataSize, Compressed: compressed(e, ratio),
			Group: group(&e), Why: explain(why, e.Path)})
	}
	r.finish()
	return r
}

// NewDiffReport makes the report of what changed from old to new: the
// files of new, and those of old that new lacks, each marked with its
// change.
func NewDiffReport(old, new *Image, oldName, newName, by string, group Grouping, why Explainer) *Report {
	r := NewReport(new, newName, by, group, why)
	o := side(old, oldName)
	r.Old = &o
	before := map[string]Entry{}
	for _, e := range old.Final() {
		if e.Type == TypeFile && e.DataSize > 0 {
			before[e.Path] = e
		}
	}
	sums := map[string]string{}
	for _, e := range new.Final() {
		sums[e.Path] = e.SHA256
	}
	for i := range r.Files {
		f := &r.Files[i]
		e, ok := before[f.Path]
		delete(before, f.Path)
		f.OldSize, f.Change = e.DataSize, change(ok, e, f.Size, sums[f.Path])
	}
	ratio := compressionRatios(old)
	for _, e := range before {
		r.Files = append(r.Files, ReportFile{Path: e.Path, Size: e.DataSize, OldSize: e.DataSize,
			Compressed: compressed(e, ratio), Group: group(&e), Change: ChangeRemoved})
	}
	r.finish()
	return r
}

// change says how a file of the new image changed from old (ok: the old
// image had it).
func change(ok bool, old Entry, size int64, sum string) string {
	switch {
	case !ok:
		return ChangeAdded
	case size > old.DataSize:
		return ChangeGrown
	case size < old.DataSize:
		return ChangeShrunk
	case sum != old.SHA256:
		return ChangeEdited
	}
	return ChangeSame
}

// side describes img for a report.
func side(img *Image, name string) Side {
	s := Side{File: name, Size: img.Size, Uncompressed: img.Uncompressed(), Formats: img.Formats()}
	for _, e := range img.Final() {
		s.Entries++
		s.Content += e.DataSize
	}
	return s
}

// compressionRatios returns each segment's compressed size over its
// uncompressed size.
func compressionRatios(img *Image) []float64 {
	r := make([]float64, len(img.Segments))
	for i, s := range img.Segments {
		if s.Uncompressed > 0 {
			r[i] = float64(s.Size) / float64(s.Uncompressed)
		}
	}
	return r
}

// compressed estimates the bytes e takes in the compressed image.
func compressed(e Entry, ratio []float64) int64 {
	if e.Segment < 0 || e.Segment >= len(ratio) {
		return e.DataSize
	}
	return int64(float64(e.DataSize)*ratio[e.Segment] + 0.5)
}

func explain(why Explainer, p string) []string {
	if why == nil {
		return nil
	}
	return why(p)
}

// finish sums the groups and sorts: groups by size, then files by group
// order and size, ties by name, so that a report is the same every time.
func (r *Report) finish() {
	byName := map[string]*ReportGroup{}
	area := map[string]int64{} // what the group covers in the picture
	for _, f := range r.Files {
		area[f.Group] += f.Size
		g := byName[f.Group]
		if g == nil {
			g = &ReportGroup{Name: f.Group}
			byName[f.Group] = g
		}
		g.Files++
		g.OldSize += f.OldSize
		g.Compressed += f.Compressed
		if f.Change != ChangeRemoved {
			g.Size += f.Size
		}
	}
	r.Groups = make([]ReportGroup, 0, len(byName))
	for _, g := range byName {
		r.Groups = append(r.Groups, *g)
	}
	sort.Slice(r.Groups, func(i, j int) bool {
		a, b := r.Groups[i], r.Groups[j]
		if area[a.Name] != area[b.Name] {
			return area[a.Name] > area[b.Name]
		}
		return a.Name < b.Name
	})
	rank := map[string]int{}
	for i, g := range r.Groups {
		rank[g.Name] = i
	}
	sort.Slice(r.Files, func(i, j int) bool {
		a, b := r.Files[i], r.Files[j]
		if rank[a.Group] != rank[b.Group] {
			return rank[a.Group] < rank[b.Group]
		}
		if a.Size != b.Size {
			return a.Size > b.Size
		}
		return a.Path < b.Path
	})
}
