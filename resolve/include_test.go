package resolve

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/fragments"
)

// includeTree is a root with fragments of its own in IncludeDir, and a
// host directory holding a manifest's neighbouring fragment files.
func includeTree(t *testing.T, own map[string]string) (*tree, string) {
	tr := newTree(t)
	tr.write("/etc/a.conf", "a", 0o644)
	tr.write("/etc/b.conf", "b", 0o644)
	tr.write("/usr/lib/systemd/system/x.service", "[Unit]\n", 0o644)
	for name, text := range own {
		tr.write(IncludeDir+"/"+name+".json", text, 0o644)
	}
	host := t.TempDir()
	for name, text := range map[string]string{
		"local.json":      `{"contents": [{"source": "/etc/b.conf"}], "include": ["sub/deeper.json"]}`,
		"sub/deeper.json": `{"contents": [{"target": "/etc/deep", "text": "d"}]}`,
	} {
		p := filepath.Join(host, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tr, host
}

// resolveAt resolves a manifest read from a file in dir, so that its
// relative includes start there.
func (tr *tree) resolveAt(dir, manifest string) (*Closure, error) {
	tr.t.Helper()
	p := filepath.Join(dir, "initrd.json")
	if err := os.WriteFile(p, []byte(manifest), 0o644); err != nil {
		tr.t.Fatal(err)
	}
	return tr.resolve(manifest, p)
}

// TestInclude: fragments of the root, of mkinitrd-ng and of files next to
// the manifest merge into it, each once, and the reasons name them.
func TestInclude(t *testing.T) {
	tr, host := includeTree(t, map[string]string{
		"conf": `{"contents": [{"source": "/etc/a.conf"}], "include": ["unit"]}`,
		"unit": `{"unitDirs": ["/usr/lib/systemd/system"], "units": ["x.service"], "contents": [{"source": "/etc/a.conf"}]}`,
	})
	c, err := tr.resolveAt(host, `{"include": ["conf", "local.json", "unit"], "contents": [{"target": "/etc/own", "text": "o"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	sameList(t, paths(c), []string{"/etc/a.conf", "/etc/b.conf", "/etc/deep", "/etc/own", "/usr/lib/systemd/system/x.service"})
	for p, want := range map[string]string{
		"/etc/a.conf":                       "fragment unit (" + IncludeDir + "/unit.json) contents[0] (/etc/a.conf)",
		"/etc/b.conf":                       "fragment " + filepath.Join(host, "local.json") + " contents[0] (/etc/b.conf)",
		"/etc/deep":                         "fragment " + filepath.Join(host, "sub/deeper.json") + " contents[0] (/etc/deep)",
		"/etc/own":                          "manifest contents[0] (/etc/own)",
		"/usr/lib/systemd/system/x.service": "unit x.service, from fragment unit (" + IncludeDir + "/unit.json)",
	} {
		if e, ok := c.Lookup(p); !ok || e.Why != want {
			t.Errorf("%s: why %q, want %q", p, e.Why, want)
		}
	}
}

// TestIncludeErrors: an unknown name lists the known ones, a cycle names
// its steps, two fragments that define one path differently are named
// with the path, and a fragment cannot decide what the image as a whole
// is.
func TestIncludeErrors(t *testing.T) {
	tr, host := includeTree(t, map[string]string{
		"loop1": `{"include": ["loop2"]}`,
		"loop2": `{"include": ["loop1"]}`,
		"one":   `{"contents": [{"target": "/etc/x", "text": "1"}]}`,
		"two":   `{"contents": [{"target": "/etc/x", "text": "2"}]}`,
		"same":  `{"contents": [{"target": "/etc/x", "text": "1"}]}`,
		"zstd":  `{"compress": "zstd", "root": "/x"}`,
		"path":  `{"include": ["../local.json"]}`,
	})
	known := append(fragments.Names(), "loop1", "loop2", "one", "path", "same", "two", "zstd")
	slices.Sort(known)
	for _, tc := range []struct{ include, want string }{
		{`"nosuch"`, `include "nosuch": no such fragment; known: ` + strings.Join(known, ", ") + ` (and NAME.json in the root's ` + IncludeDir + `)`},
		{`"loop1"`, "include cycle: loop1 -> loop2 -> loop1"},
		{`"one", "two"`, "fragment one (" + IncludeDir + "/one.json) contents[0] (/etc/x) and fragment two (" + IncludeDir + "/two.json) contents[0] (/etc/x) both define /etc/x, differently"},
		{`"zstd"`, "a fragment cannot set root, compress: the including manifest decides it"},
		{`"path"`, `include "../local.json": a fragment of the root or of mkinitrd-ng includes other fragments by name only`},
		{`"missing.json"`, `include "missing.json": open ` + filepath.Join(host, "missing.json") + ": no such file or directory"},
		{`"a b"`, `include "a b": not a fragment name`},
	} {
		t.Run(tc.include, func(t *testing.T) {
			_, err := tr.resolveAt(host, `{"include": [`+tc.include+`]}`)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := tr.resolveAt(host, `{"include": ["one", "same"]}`); err != nil {
		t.Errorf("identical entries of two fragments: %v", err)
	}
}

// TestExpandKeepsManifest: Expand leaves the manifest it is given as it
// was, so that a caller can resolve it again.
func TestExpandKeepsManifest(t *testing.T) {
	tr, host := includeTree(t, map[string]string{"one": `{"units": ["x.service"], "wants": {"a.target": ["x.service"]}, "contents": [{"target": "/etc/x", "text": "1"}]}`})
	m, err := ParseManifest(strings.NewReader(`{"include": ["one"], "units": ["y.service"], "wants": {"a.target": ["y.service"]}}`), filepath.Join(host, "m.json"))
	if err != nil {
		t.Fatal(err)
	}
	fsys := tr.fs()
	x, err := m.Expand(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contents) != 0 || len(m.Units) != 1 || len(m.Wants["a.target"]) != 1 {
		t.Errorf("Expand changed its input: %+v", m)
	}
	if len(x.Contents) != 1 || len(x.Units) != 2 || len(x.Wants["a.target"]) != 2 {
		t.Errorf("expanded: %+v", x)
	}
}

// TestShippedFragments: every fragment that ships parses, and sets
// nothing a fragment may not.
func TestShippedFragments(t *testing.T) {
	names := fragments.Names()
	if len(names) == 0 {
		t.Fatal("no fragments ship")
	}
	for _, name := range names {
		data, ok := fragments.Lookup(name)
		if !ok {
			t.Fatalf("%s is listed but cannot be looked up", name)
		}
		m, err := ParseManifest(bytes.NewReader(data), name)
		if err == nil {
			err = checkFragment(m)
		}
		if err != nil {
			t.Errorf("fragment %s: %v", name, err)
		}
	}
	if _, ok := fragments.Lookup("../resolve/manifest"); ok {
		t.Error("Lookup reads a path")
	}
}

// TestProgramEntries: a program entry names a command, found in systemd's
// fixed PATH inside the root the way a unit's Exec= line finds it.
func TestProgramEntries(t *testing.T) {
	tr := newTree(t)
	tr.write("/usr/sbin/cryptsetup", "#!/bin/sh\n", 0o755)
	tr.write("/bin/sh", "", 0o755)
	tr.write("/usr/bin/tool", "t", 0o755)
	for _, tc := range []struct{ contents, want string }{
		{`{"program": "cryptsetup"}`, "/usr/sbin/cryptsetup"},
		{`{"program": "tool", "target": "/bin/t"}`, "/bin/t"},
	} {
		c := tr.mustResolve(`{"contents": [` + tc.contents + `]}`)
		if e, ok := c.Lookup(tc.want); !ok || e.Kind != File || !strings.HasPrefix(e.Why, "manifest contents[0]") {
			t.Errorf("%s: %s = %+v", tc.contents, tc.want, e)
		}
	}
	_, err := tr.resolve(`{"contents": [{"program": "nosuch"}]}`)
	if err == nil || !strings.Contains(err.Error(), `contents[0] (nosuch): program "nosuch" not found in /usr/local/sbin:`) {
		t.Errorf("error = %v", err)
	}
	m, err := ParseManifest(strings.NewReader(`{"contents": [{"program": "/usr/bin/tool"}]}`), "m.json")
	if err == nil || !strings.Contains(err.Error(), `program "/usr/bin/tool" is a path`) {
		t.Errorf("a program given as a path: %v, %v", m, err)
	}
}
