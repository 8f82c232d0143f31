package tests

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffFormats: diff --format markdown prints the CI summary, also when
// --fail-over fails the gate; --format json is --json; a format that is
// not known, or that contradicts --json, is a usage error.
func TestDiffFormats(t *testing.T) {
	oldRoot, oldManifest := diffRoot(t, map[string]string{"usr/bin/tool": "v1", "usr/lib/gone": "removed later"})
	newRoot, newManifest := diffRoot(t, map[string]string{"usr/bin/tool": "version 2", "usr/lib/a|b<c>": "new"})
	dir := t.TempDir()
	oldImg, newImg := filepath.Join(dir, "old.img"), filepath.Join(dir, "new.img")
	buildImage(t, oldManifest, oldRoot, oldImg)
	buildImage(t, newManifest, newRoot, newImg)
	jsonOut := run(t, nil, "diff", "--json", oldImg, newImg)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"markdown", []string{"--format", "markdown"}, 0, []string{
			"### initrd size: ", "| **compressed** |", "| entries | 5 | 5 | 0 |",
			"1 added, 1 removed, 1 changed.", "<details><summary>All 3 changed entries</summary>",
			`| + | /usr/lib/a\|b\<c\> | added file | — | 3 B | +3 B |`, "</details>"}, ""},
		{"markdown by dir, gate failed", []string{"--format", "markdown", "--by", "dir", "--fail-over", "0"}, 1, []string{
			"**Top dir groups that changed**", "| /usr/bin | 2 B | 9 B | +7 B (+350.00%) | 0 | 0 | 1 |"}, "size check failed"},
		{"json", []string{"--format", "json"}, 0, []string{jsonOut.stdout}, ""},
		{"json twice", []string{"--format", "json", "--json"}, 0, []string{jsonOut.stdout}, ""},
		{"text", []string{"--format", "text"}, 0, []string{"entries: 1 added, 1 removed, 1 changed"}, ""},
		{"unknown", []string{"--format", "html"}, 2, nil, `--format "html": want text, json or markdown`},
		{"contradiction", []string{"--format", "markdown", "--json"}, 2, nil, "--json and --format markdown contradict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, append(append([]string{"diff"}, tt.args...), oldImg, newImg)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", r.code, tt.code, r.stderr, tt.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
		})
	}
}
