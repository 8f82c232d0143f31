package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
)

// hostile is a report whose names try to break out of the markup.
func hostile() *inspect.Report {
	r := &inspect.Report{Image: inspect.Side{File: `a"<b>.img`, Size: 100, Content: 60}, By: "dir"}
	for i, p := range []string{`/etc/<script>alert(1)</script>`, `/usr/bin/"quoted" & 'single'`, "/usr/lib/a\nb", "/x"} {
		r.Files = append(r.Files, inspect.ReportFile{Path: p, Size: int64(10 * (i + 1)), Compressed: 5, Group: inspect.TopDir(p),
			Why: []string{p + `: needed by </title><script>`}})
	}
	r.Groups = []inspect.ReportGroup{{Name: "/usr/lib", Files: 1, Size: 30}, {Name: "/usr/bin", Files: 1, Size: 20},
		{Name: "/x", Files: 1, Size: 40}, {Name: "/etc/<script>alert(1)<", Files: 1, Size: 10}}
	return r
}

// TestWriteSVG: the SVG is well-formed XML, with one area per file, each
// with its tooltip, whatever the names hold.
func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, hostile()); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	files, titles := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				for _, a := range se.Attr {
					if a.Name.Local == "class" && a.Value == "file" {
						files++
					}
				}
			case "title":
				titles++
			case "script":
				t.Errorf("the SVG has a script")
			}
		}
	}
	if files != 4 || titles != 4 {
		t.Errorf("%d file areas, %d titles; want 4 and 4", files, titles)
	}
}

// TestWriteHTML: one page, nothing fetched, one area per file, names
// escaped, the table of groups; a diff has its legend.
func TestWriteHTML(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, hostile()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, `<rect class="file"`); n != 4 {
		t.Errorf("%d file areas, want 4", n)
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "</title><script>") {
		t.Error("a name is not escaped")
	}
	if regexp.MustCompile(`(?i)(src|href)\s*=|url\(\s*['"]?(https?:|//)|@import`).MatchString(page) {
		t.Error("the page fetches something")
	}
	if !strings.Contains(page, "<h2>Largest groups</h2>") || strings.Contains(page, "removed (hatched)") {
		t.Error("no table of groups, or a legend without a diff")
	}
	r := hostile()
	r.Old = &inspect.Side{File: "old.img"}
	for i := range r.Files {
		r.Files[i].Change = []string{inspect.ChangeAdded, inspect.ChangeRemoved, inspect.ChangeGrown, inspect.ChangeSame}[i]
	}
	b.Reset()
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"removed (hatched)", `fill="url(#removed)"`, `fill="#0072B2"`, "old.img →"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("diff page lacks %q", want)
		}
	}
}

// TestWriteDeterministic: a report is written the same every time.
func TestWriteDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteHTML(&a, hostile()); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&b, hostile()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes differ")
	}
}
