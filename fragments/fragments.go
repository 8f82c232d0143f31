// Package fragments holds the manifest fragments that ship with
// mkinitrd-ng: manifests of their own, each bringing what one layer of a
// boot needs (a storage stack, a file system, a controller), that a
// manifest names in its "include" list. They are data, embedded in the
// binary; package resolve merges them.
package fragments

import (
	"embed"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed *.json
var files embed.FS

// Lookup returns the fragment called name, and whether there is one.
func Lookup(name string) ([]byte, bool) {
	if strings.ContainsAny(name, "/\\") {
		return nil, false
	}
	data, err := files.ReadFile(name + ".json")
	return data, err == nil
}

// Names returns the names of the fragments, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	slices.Sort(names)
	return names
}
