package report

import (
	"fmt"
	"path"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
)

// The picture's size in SVG units; the page scales it to the window.
const (
	mapWidth  = 1200
	mapHeight = 720
	header    = 16 // a group's label band, when the group is large enough
	maxTable  = 40 // groups listed in the table
)

// palette is Okabe and Ito's set of colours that people with any common
// colour-vision deficiency tell apart, for the groups.
var palette = [...]string{"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"}

// changeStyle is the fill of each change of a diff, from the same set:
// blue and vermillion, the pair most readers tell apart, for added and
// removed, and removed is hatched too, so that it reads without colour.
var changeStyle = map[string]struct{ fill, label string }{
	inspect.ChangeAdded:   {"#0072B2", "added"},
	inspect.ChangeRemoved: {"url(#removed)", "removed (hatched)"},
	inspect.ChangeGrown:   {"#E69F00", "grown"},
	inspect.ChangeShrunk:  {"#56B4E9", "shrunk"},
	inspect.ChangeEdited:  {"#CC79A7", "changed, same size"},
	inspect.ChangeSame:    {"#D9D9D9", "unchanged"},
}

// page is what the templates render.
type page struct {
	Title, Summary string
	W, H           int
	Diff           bool
	Standalone     bool // an SVG file: tooltips as <title>, no script
	Groups         []groupView
	Legend         []legendItem
	Table          []tableRow
	Files          int
	DocH           int // the SVG file's height: title, picture and legend
	LegendY        int
}

type groupView struct {
	ID             string
	X, Y, W, H     string
	Name, Label    string
	LabelX, LabelY string
	Color          string
	Files          []fileView
	LabelShown     bool
}

type fileView struct {
	X, Y, W, H, TextX, TextY string
	Path, Base, Group        string
	Size, OldSize            int64
	Info                     string // the tooltip's text
	Fill, TextFill, Change   string
	Labelled                 bool
}

type legendItem struct{ Fill, Label, X string }

type tableRow struct {
	Name                            string
	Files                           int
	Size, OldSize, Compressed, Diff string
	Share                           string
}

// newPage lays out r as a treemap of groups, each a treemap of its files.
func newPage(r *inspect.Report, standalone bool) *page {
	p := &page{W: mapWidth, H: mapHeight, DocH: mapHeight + 80, LegendY: mapHeight + 60, Diff: r.Old != nil, Standalone: standalone, Files: len(r.Files)}
	p.Title, p.Summary = titles(r)
	byGroup := map[string][]*inspect.ReportFile{}
	for i := range r.Files {
		f := &r.Files[i]
		byGroup[f.Group] = append(byGroup[f.Group], f)
	}
	sizes := make([]float64, len(r.Groups))
	for i, g := range r.Groups {
		sizes[i] = area(byGroup[g.Name])
	}
	rects := Squarify(sizes, Rect{0, 0, mapWidth, mapHeight})
	for i, g := range r.Groups {
		p.Groups = append(p.Groups, newGroupView(i, g.Name, rects[i], byGroup[g.Name], r))
	}
	p.Legend = legend(r)
	p.Table = table(r, r.Image.Content)
	return p
}

// area is what files cover in the picture.
func area(files []*inspect.ReportFile) float64 {
	var s float64
	for _, f := range files {
		s += float64(f.Size)
	}
	return s
}

// newGroupView lays out one group's files inside its rectangle, under a
// label band when the group is large enough to show its name.
func newGroupView(i int, name string, r Rect, files []*inspect.ReportFile, rep *inspect.Report) groupView {
	g := groupView{ID: fmt.Sprintf("g%d", i), X: num(r.X), Y: num(r.Y), W: num(r.W), H: num(r.H), Name: name,
		Color: palette[i%len(palette)]}
	inner := r.Inset(1)
	if r.H > 3*header && r.W > 60 {
		g.LabelShown, g.Label, g.LabelX, g.LabelY = true, fit(inspect.Escape(name), r.W-6), num(r.X+3), num(r.Y+header-4)
		inner = Rect{r.X + 1, r.Y + header, r.W - 2, r.H - header - 1}
	}
	sizes := make([]float64, len(files))
	for k, f := range files {
		sizes[k] = float64(f.Size)
	}
	for k, fr := range Squarify(sizes, inner) {
		g.Files = append(g.Files, newFileView(files[k], fr, g.Color, k, rep))
	}
	return g
}

// newFileView is one file's area.
func newFileView(f *inspect.ReportFile, r Rect, color string, k int, rep *inspect.Report) fileView {
	v := fileView{X: num(r.X), Y: num(r.Y), W: num(r.W), H: num(r.H), TextX: num(r.X + 3), TextY: num(r.Y + 12),
		Path: f.Path, Base: path.Base(f.Path), Group: f.Group, Size: f.Size, OldSize: f.OldSize, Fill: color, Change: f.Change}
	v.TextFill = "#111"
	if f.Change != "" {
		v.Fill = changeStyle[f.Change].fill
		if f.Change == inspect.ChangeAdded || f.Change == inspect.ChangeRemoved {
			v.TextFill = "#fff" // on the dark blue and vermillion
		}
	} else if k%2 == 1 {
		v.Fill = color + "cc" // neighbours in a group differ a little
	}
	v.Labelled = r.H > 15 && r.W > 6.5*float64(len(v.Base))+6
	v.Info = info(f, rep)
	return v
}

// info is a file's tooltip: path, size, compressed share, group, change
// and the why chain.
func info(f *inspect.ReportFile, rep *inspect.Report) string {
	lines := []string{inspect.Escape(f.Path),
		fmt.Sprintf("%s (%d bytes), %s of the content", inspect.HumanSize(f.Size), f.Size, percent(f.Size, rep.Image.Content)),
		fmt.Sprintf("about %s of the compressed image (%s)", inspect.HumanSize(f.Compressed), percent(f.Compressed, rep.Image.Size)),
		rep.By + ": " + inspect.Escape(f.Group)}
	if f.Change != "" {
		lines = append(lines, fmt.Sprintf("%s: %s -> %s", f.Change, inspect.HumanSize(f.OldSize), inspect.HumanSize(sizeAfter(f))))
	}
	for i, step := range f.Why {
		lines = append(lines, strings.Repeat("  ", i)+inspect.Escape(step))
	}
	return strings.Join(lines, "\n")
}

// sizeAfter is a file's size in the new image (0 once removed).
func sizeAfter(f *inspect.ReportFile) int64 {
	if f.Change == inspect.ChangeRemoved {
		return 0
	}
	return f.Size
}

func num(v float64) string { return fmt.Sprintf("%.2f", v) }

func percent(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// fit cuts a label to about what width units show.
func fit(s string, width float64) string {
	n := int(width / 7)
	if r := []rune(s); len(r) > n {
		if n <= 1 {
			return ""
		}
		return string(r[:n-1]) + "…"
	}
	return s
}
