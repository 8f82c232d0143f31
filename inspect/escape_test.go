package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/usr/bin/sh", "/usr/bin/sh"},
		{"with space", "with space"},
		{"/h\u00e9llo/\u65e5\u672c", "/h\u00e9llo/\u65e5\u672c"}, // printable UTF-8 stays
		{"\uFFFD", "\uFFFD"},                                     // a real U+FFFD is printable
		{"a\nb", `a\nb`},
		{"\x1b[31mred", `\033[31mred`},
		{"back\\slash", `back\\slash`},
		{"\a\b\t\v\f\r", `\a\b\t\v\f\r`},
		{"nul\x00", `nul\000`},
		{"del\x7f", `del\177`},
		{"bad\xff\xfe", `bad\377\376`},                   // invalid UTF-8
		{"csi\u009b31m", `csi\302\23331m`},               // C1 control, as UTF-8
		{"evil\u202etxt.exe", `evil\342\200\256txt.exe`}, // right-to-left override
		{"", ""},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// hostileNames is an archive whose names and link target would recolour
// a terminal and fake lines of output if printed raw.
func hostileNames(t *testing.T) []byte {
	return archive(t, true,
		file{name: "etc/\x1b[31mred", data: "x"},
		file{name: "fake\n-rw-r--r--   1     0     0          1  [0] /etc/passwd", data: "y"},
		file{name: "link", link: "\x1b]0;title\x07"},
		file{name: "h\r1", linkKey: "g", nlink: 2},
		file{name: "h2", data: "z", linkKey: "g", nlink: 2},
	)
}

// TestListingsEscape: the listings escape names, link targets and
// hard-link names; JSON keeps them exact.
func TestListingsEscape(t *testing.T) {
	img := hostileNames(t)
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer, *Reader) error
		want  []string
	}{
		{"short", func(b *bytes.Buffer, r *Reader) error { return WriteList(b, r) },
			[]string{`/etc/\033[31mred`, `/fake\n-rw-r--r--`, `/h\r1`}},
		{"long", func(b *bytes.Buffer, r *Reader) error { return WriteLongList(b, r) },
			[]string{`/etc/\033[31mred`, `/link -> \033]0;title\a`, `/h2 (hard link to /h\r1)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := tc.write(&out, NewReader(bytes.NewReader(img))); err != nil {
				t.Fatal(err)
			}
			checkTerminalSafe(t, out.String())
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("lacks %q:\n%s", want, out.String())
				}
			}
			if n := strings.Count(out.String(), "\n"); n != 5 && tc.name == "short" {
				t.Errorf("%d lines for 5 entries:\n%s", n, out.String())
			}
		})
	}
	read, err := Read(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(read)
	if err != nil {
		t.Fatal(err)
	}
	var back Image
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Entries[0].Path != "/etc/\x1b[31mred" || back.Entries[2].Link != "\x1b]0;title\x07" {
		t.Errorf("JSON does not keep names exact: %s", b)
	}
}

// TestDiffTextEscapes: the diff's text escapes paths, link targets,
// hard-link names and group names.
func TestDiffTextEscapes(t *testing.T) {
	old, err := Read(bytes.NewReader(archive(t, true, file{name: "l\x1b", link: "a\n"}, file{name: "gone\x07", data: "1"})))
	if err != nil {
		t.Fatal(err)
	}
	new, err := Read(bytes.NewReader(hostileNames(t)))
	if err != nil {
		t.Fatal(err)
	}
	new.Entries = append(new.Entries, Entry{Path: "/l\x1b", Type: TypeSymlink, Link: "b\r", Mode: 0o777})
	for _, by := range []struct {
		name  string
		group Grouping
	}{{"path", nil}, {"dir", ByDir}} {
		var out bytes.Buffer
		if err := Compare(old, new, "old\x1b.img", "new.img", by.name, by.group).WriteText(&out); err != nil {
			t.Fatal(err)
		}
		checkTerminalSafe(t, out.String())
		if by.group == nil && !strings.Contains(out.String(), `~ /l\033: size 2 -> 0 (-2), link a\n -> b\r`) {
			t.Errorf("changed link not escaped:\n%s", out.String())
		}
	}
}

// TestWriteJSON: the JSON listing, which holds the entries packed, is
// what encoding/json writes for the Image Read returns.
func TestWriteJSON(t *testing.T) {
	for _, img := range [][]byte{
		{},
		hostileNames(t),
		cat(archive(t, true, file{name: "s", data: "<&>", mode: 0o4711}, file{name: "dev/x", typ: cpiogen.TypeBlock}),
			compress(t, "zstd", archive(t, true, file{name: "s", link: "a"}))),
	} {
		read, err := Read(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(read); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&got, NewReader(bytes.NewReader(img))); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("WriteJSON:\n%s\nencoding/json:\n%s", got.String(), want.String())
		}
	}
}
