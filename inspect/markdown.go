package inspect

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Bounds of the Markdown summary: a pull-request comment holds at most
// 65536 characters, so the full list stops after markdownMaxRows rows
// and points at the JSON format for the rest.
const (
	markdownTopGroups = 10
	markdownMaxRows   = 300
)

// WriteMarkdown writes d as a compact GitHub-flavoured Markdown summary
// for a CI job summary or a pull-request comment: a table of the totals
// with deltas and percentages, the groups (or entries) that changed
// most, and the full list of changed entries in a collapsed <details>
// block. Paths are escaped as Escape does, then for Markdown, so that
// no name can break the table or inject markup.
func (d *Diff) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### initrd size: %s → %s\n\n", mdText(d.Old.File), mdText(d.New.File))
	fmt.Fprintln(bw, "| | old | new | change |")
	fmt.Fprintln(bw, "|---|---:|---:|---:|")
	totalRow(bw, "**compressed**", d.Old.Size, d.New.Size)
	totalRow(bw, "uncompressed", d.Old.Uncompressed, d.New.Uncompressed)
	totalRow(bw, "file content", d.Old.Content, d.New.Content)
	fmt.Fprintf(bw, "| entries | %d | %d | %s |\n", d.Old.Entries, d.New.Entries, countDelta(d.New.Entries-d.Old.Entries, d.Old.Entries))
	fmt.Fprintf(bw, "\n%d added, %d removed, %d changed.\n", len(d.Added), len(d.Removed), len(d.Changed))
	rows := d.changeRows()
	if d.Groups != nil {
		d.writeTopGroups(bw)
	} else if len(rows) > 0 {
		fmt.Fprintf(bw, "\n**Largest changes**\n\n")
		writeRows(bw, rows[:min(len(rows), markdownTopGroups)])
	}
	if len(rows) > 0 {
		fmt.Fprintf(bw, "\n<details><summary>All %d changed entries</summary>\n\n", len(rows))
		writeRows(bw, rows[:min(len(rows), markdownMaxRows)])
		if len(rows) > markdownMaxRows {
			fmt.Fprintf(bw, "\n… and %d more: `mkinitrd-ng diff --format json` lists them all.\n", len(rows)-markdownMaxRows)
		}
		fmt.Fprintln(bw, "\n</details>")
	}
	return bw.Flush()
}

// totalRow writes one row of the totals table.
func totalRow(w io.Writer, label string, old, new int64) {
	fmt.Fprintf(w, "| %s | %s | %s | %s |\n", label, HumanSize(old), HumanSize(new), sizeDelta(new-old, old))
}

// writeTopGroups writes the groups whose entries changed, largest
// change first, as sortedGroups orders them.
func (d *Diff) writeTopGroups(w io.Writer) {
	var changed []Group
	for _, g := range d.Groups {
		if g.Delta != 0 || g.Added+g.Removed+g.Changed > 0 {
			changed = append(changed, g)
		}
	}
	if len(changed) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**Top %s groups that changed** (file content)\n\n", mdText(d.By))
	fmt.Fprintln(w, "| group | old | new | change | added | removed | changed |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, g := range changed[:min(len(changed), markdownTopGroups)] {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %d |\n", mdText(g.Name), HumanSize(g.OldContent), HumanSize(g.NewContent),
			sizeDelta(g.Delta, g.OldContent), g.Added, g.Removed, g.Changed)
	}
	if len(changed) > markdownTopGroups {
		fmt.Fprintf(w, "\n… and %d more groups.\n", len(changed)-markdownTopGroups)
	}
}

// changeRow is one changed entry of the summary.
type changeRow struct {
	mark, path, what string
	old, new         int64
}

// changeRows lists the added, removed and changed entries, largest
// size change first, then by path.
func (d *Diff) changeRows() []changeRow {
	rows := make([]changeRow, 0, len(d.Added)+len(d.Removed)+len(d.Changed))
	for i := range d.Added {
		rows = append(rows, changeRow{mark: "+", path: d.Added[i].Path, what: "added " + d.Added[i].Type, new: d.Added[i].Size})
	}
	for i := range d.Removed {
		rows = append(rows, changeRow{mark: "-", path: d.Removed[i].Path, what: "removed " + d.Removed[i].Type, old: d.Removed[i].Size})
	}
	for i := range d.Changed {
		c := &d.Changed[i]
		rows = append(rows, changeRow{mark: "~", path: c.Path, what: strings.Join(c.Fields, ", "), old: c.Old.Size, new: c.New.Size})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		di, dj := abs(rows[i].new-rows[i].old), abs(rows[j].new-rows[j].old)
		if di != dj {
			return di > dj
		}
		return rows[i].path < rows[j].path
	})
	return rows
}

// writeRows writes changed entries as a table.
func writeRows(w io.Writer, rows []changeRow) {
	fmt.Fprintln(w, "| | path | what | old | new | change |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
	for _, r := range rows {
		oldSize, newSize := HumanSize(r.old), HumanSize(r.new)
		switch r.mark {
		case "+":
			oldSize = "—"
		case "-":
			newSize = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.mark, mdText(r.path), mdText(r.what), oldSize, newSize, signedSize(r.new-r.old))
	}
}

// sizeDelta is a change in bytes, human-readable, with its percentage
// of base when base is not zero.
func sizeDelta(delta, base int64) string {
	s := signedSize(delta)
	if base != 0 && delta != 0 {
		s += fmt.Sprintf(" (%+.2f%%)", 100*float64(delta)/float64(base))
	}
	return s
}

// countDelta is a change in a count, with its percentage of base.
func countDelta(delta, base int) string {
	s := signed(int64(delta))
	if base != 0 && delta != 0 {
		s += fmt.Sprintf(" (%+.2f%%)", 100*float64(delta)/float64(base))
	}
	return s
}

// signedSize is HumanSize with a sign, "0 B" for no change.
func signedSize(n int64) string {
	switch {
	case n > 0:
		return "+" + HumanSize(n)
	case n < 0:
		return "-" + HumanSize(-n)
	}
	return "0 B"
}

// HumanSize renders a size in bytes with binary units: "812 B",
// "14.3 KiB", "25.0 MiB".
func HumanSize(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, units := float64(n)/1024, "KMGTPE"
	for i := 0; ; i++ {
		if (v < 1024 && v > -1024) || i == len(units)-1 {
			return fmt.Sprintf("%.1f %ciB", v, units[i])
		}
		v /= 1024
	}
}

// mdText makes s safe as Markdown text in a table cell: escaped as
// Escape does (no control characters or newlines), then each character
// that GitHub's Markdown reads as markup inside a line backslash-escaped:
// emphasis, code, links, HTML, cell borders, math, emoji, mentions and
// issue references. Characters that are markup only at the start of a
// line (-, +, .) need nothing in a cell.
func mdText(s string) string {
	s = Escape(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>|~&$:@#", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
