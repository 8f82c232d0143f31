package inspect

import (
	"go/parser"
	"go/token"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPackageDocNamesImports: the package doc says what inspect builds
// on; every package of this module it imports must be named there, so
// that the doc cannot claim a dependency away.
func TestPackageDocNamesImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	imports := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc += f.Doc.Text()
		}
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(p, "github.com/mkinitrd-ng/mkinitrd-ng/") {
				imports[path.Base(p)] = true
			}
		}
	}
	if doc == "" {
		t.Fatal("no package doc")
	}
	for _, imp := range slices.Sorted(maps.Keys(imports)) {
		if !strings.Contains(doc, imp) {
			t.Errorf("inspect imports %s, which its package doc does not name:\n%s", imp, doc)
		}
	}
}
