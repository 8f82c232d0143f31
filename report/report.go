// Package report draws the size picture of an initrd: a squarified
// treemap of its files, grouped as inspect.Report groups them, as one
// self-contained HTML page (the picture as inline SVG, a script for
// hovering and zooming, a table of the largest groups; nothing is fetched
// when it is viewed) or as an SVG file for places that show no HTML.
package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
)

//go:embed page.html.tmpl
var templates embed.FS

// WriteHTML writes r as one HTML page.
func WriteHTML(w io.Writer, r *inspect.Report) error {
	return execute(w, "html", newPage(r, false))
}

// WriteSVG writes r as an SVG image: the treemap with a tooltip per file
// (<title>), a legend, and no script.
func WriteSVG(w io.Writer, r *inspect.Report) error {
	return execute(w, "svgdoc", newPage(r, true))
}

func execute(w io.Writer, name string, p *page) error {
	t, err := template.ParseFS(templates, "page.html.tmpl")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return t.ExecuteTemplate(w, name, p)
}

// titles are the page's title and the line of totals under it.
func titles(r *inspect.Report) (title, summary string) {
	img := r.Image
	if r.Old == nil {
		return "initrd size: " + inspect.Escape(img.File), fmt.Sprintf("%s compressed, %s uncompressed, %s of file content in %d files (%d entries), by %s",
			inspect.HumanSize(img.Size), inspect.HumanSize(img.Uncompressed), inspect.HumanSize(img.Content), len(r.Files), img.Entries, r.By)
	}
	old := r.Old
	return "initrd size: " + inspect.Escape(old.File) + " → " + inspect.Escape(img.File),
		fmt.Sprintf("compressed %s → %s (%s), file content %s → %s (%s), entries %d → %d, by %s",
			inspect.HumanSize(old.Size), inspect.HumanSize(img.Size), change(img.Size-old.Size, old.Size),
			inspect.HumanSize(old.Content), inspect.HumanSize(img.Content), change(img.Content-old.Content, old.Content),
			old.Entries, img.Entries, r.By)
}

// change is a signed size with its percentage of base.
func change(delta, base int64) string {
	s := inspect.HumanSize(delta)
	if delta >= 0 {
		s = "+" + s
	}
	if base != 0 {
		s += fmt.Sprintf(", %+.1f%%", 100*float64(delta)/float64(base))
	}
	return s
}

// legend names the colours of a diff; a plain report's colours are its
// groups, named on the picture and in the table.
func legend(r *inspect.Report) []legendItem {
	if r.Old == nil {
		return nil
	}
	var items []legendItem
	for i, c := range []string{inspect.ChangeAdded, inspect.ChangeRemoved, inspect.ChangeGrown, inspect.ChangeShrunk, inspect.ChangeEdited, inspect.ChangeSame} {
		items = append(items, legendItem{Fill: changeStyle[c].fill, Label: changeStyle[c].label, X: num(float64(i) * 190)})
	}
	return items
}

// table lists the largest groups.
func table(r *inspect.Report, content int64) []tableRow {
	var rows []tableRow
	for _, g := range r.Groups[:min(len(r.Groups), maxTable)] {
		row := tableRow{Name: inspect.Escape(g.Name), Files: g.Files, Size: inspect.HumanSize(g.Size),
			Compressed: inspect.HumanSize(g.Compressed), Share: percent(g.Size, content)}
		if r.Old != nil {
			row.OldSize, row.Diff = inspect.HumanSize(g.OldSize), change(g.Size-g.OldSize, g.OldSize)
		}
		rows = append(rows, row)
	}
	return rows
}
