package inspect

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteMarkdown: the summary has the totals with deltas and
// percentages, the top groups or largest changes, and every changed
// entry in a collapsed <details> block.
func TestWriteMarkdown(t *testing.T) {
	old, new := diffImages(t)
	tests := []struct {
		name, by string
		group    Grouping
		has      []string
		hasNot   []string
	}{
		{"by path", "path", nil, []string{
			"### initrd size: old.img → new.img",
			"| entries | 9 | 9 | 0 |",
			"| file content | 121 B | 179 B | +58 B (+47.93%) |",
			"2 added, 2 removed, 4 changed.",
			"**Largest changes**",
			"| + | /nix/store/9zs7v0wnqrbdnbx2s2bq2x6h8w5v1ym3-systemd-256/lib/libsystemd.so",
			"<details><summary>All 8 changed entries</summary>",
			"| ~ | /usr/bin/grows | size, content | 5 B | 15 B | +10 B |",
			"| - | /usr/bin/gone | removed file | 7 B | — | -7 B |",
			"</details>",
		}, []string{"Top "}},
		{"by dir", "dir", ByDir, []string{
			"**Top dir groups that changed** (file content)",
			"| /usr/bin | 17 B | 25 B | +8 B (+47.06%) | 1 | 1 | 3 |",
			"| /etc/edit | 4 B | 4 B | 0 B | 0 | 0 | 1 |",
			"<details><summary>All 8 changed entries</summary>",
		}, []string{"**Largest changes**", "| /usr |"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Compare(old, new, "old.img", "new.img", tt.by, tt.group).WriteMarkdown(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, s := range tt.has {
				if !strings.Contains(out, s) {
					t.Errorf("lacks %q:\n%s", s, b.String())
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(out, s) {
					t.Errorf("has %q:\n%s", s, b.String())
				}
			}
		})
	}
}

// TestWriteMarkdownSame: identical images make the totals and no list.
func TestWriteMarkdownSame(t *testing.T) {
	old, _ := diffImages(t)
	var b bytes.Buffer
	if err := Compare(old, old, "a", "b", "dir", ByDir).WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "0 added, 0 removed, 0 changed.") || strings.Contains(b.String(), "<details>") ||
		strings.Contains(b.String(), "Top ") {
		t.Errorf("summary of no change:\n%s", b.String())
	}
}

// TestMarkdownEscape: no name breaks a table cell or becomes markup.
func TestMarkdownEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/lib/libc.so.6", "/usr/lib/libc.so.6"},
		{"a|b", `a\|b`},
		{"<script>x</script>", `\<script\>x\</script\>`},
		{"`code` *em* _u_ [l](u)", "\\`code\\` \\*em\\* \\_u\\_ \\[l\\](u)"},
		{"new\nline", `new\\nline`},
		{"@someone #12 :smile: $x$ ~~s~~ &amp;", `\@someone \#12 \:smile\: \$x\$ \~\~s\~\~ \&amp;`},
		{`back\slash`, `back\\\\slash`},
	}
	for _, tt := range tests {
		if got := mdText(tt.in); got != tt.want {
			t.Errorf("mdText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestWriteMarkdownBounded: a diff of many entries lists the first
// markdownMaxRows in the details block and says how many more there are.
func TestWriteMarkdownBounded(t *testing.T) {
	d := &Diff{By: "path"}
	for i := range markdownMaxRows + 5 {
		d.Added = append(d.Added, Entry{Path: "/f" + strings.Repeat("x", i%7), Type: TypeFile, Size: int64(i)})
	}
	var b bytes.Buffer
	if err := d.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n| + |"); n != markdownTopGroups+markdownMaxRows {
		t.Errorf("%d rows, want %d", n, markdownTopGroups+markdownMaxRows)
	}
	if !strings.Contains(b.String(), "… and 5 more: `mkinitrd-ng diff --format json` lists them all.") {
		t.Errorf("no note of the rows left out:\n%s", b.String()[len(b.String())-300:])
	}
}

// TestHumanSize covers each unit and the edges between them.
func TestHumanSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {25 << 20, "25.0 MiB"}, {3 << 30, "3.0 GiB"}, {-2048, "-2.0 KiB"}} {
		if got := HumanSize(tt.n); got != tt.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
