package resolve

import (
	"io/fs"
	"os"
	"strings"
	"testing"
)

// dirTree is a directory of every kind of member: files, a subdirectory,
// and symlinks pointing inside it, out of it (absolute and relative), into
// /dev, and nowhere.
func dirTree(t *testing.T) *tree {
	tr := newTree(t)
	tr.write("/srv/a/x", "x", 0o644)
	tr.write("/srv/a/sub/y", "y", 0o644)
	tr.symlink("/srv/a/rel", "x")
	tr.symlink("/srv/a/sub/back", "../x")
	tr.symlink("/srv/a/abs", "/etc/conf")
	tr.symlink("/srv/a/up", "../other")
	tr.symlink("/srv/a/mask.service", "/dev/null")
	tr.symlink("/srv/a/gone", "nowhere")
	tr.write("/etc/conf", "c", 0o644)
	tr.write("/srv/other", "o", 0o644)
	tr.write("/opt/other", "o", 0o644)
	// The root's own /dev/null: a file here, so that copying it would show.
	tr.write("/dev/null", "", 0o644)
	return tr
}

// TestDirectorySources: a directory source copies every member, symlinks
// with their text, at its own path or at another; each symlink is
// followed where it points in the image, and one into /dev is kept and
// not followed.
func TestDirectorySources(t *testing.T) {
	links := func(top string) []string {
		return []string{top + "/abs -> /etc/conf", top + "/gone -> nowhere", top + "/mask.service -> /dev/null",
			top + "/rel -> x", top + "/sub/back -> ../x", top + "/up -> ../other", top + "/sub/y", top + "/x", "/etc/conf"}
	}
	for _, tc := range []struct {
		name, manifest string
		want           []string
		warning        string
	}{
		{"in place", `{"contents": [{"source": "/srv/a"}]}`,
			append(links("/srv/a"), "/srv/other"), "/srv/a/gone: dangling symlink to /srv/a/nowhere kept"},
		{"to another path", `{"contents": [{"source": "/srv/a", "target": "/opt/b"}]}`,
			append(links("/opt/b"), "/opt/other"), ""},
		{"list format", `[{"source": "/srv/a", "target": "/etc/a"}]`,
			append(links("/srv/a"), "/srv/other", "/etc/a -> /srv/a"), "/srv/a/gone: dangling symlink to /srv/a/nowhere kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dirTree(t).mustResolve(tc.manifest)
			sameList(t, paths(c), tc.want)
			if got := strings.Join(c.Warnings, "\n"); !strings.Contains(got, tc.warning) || (tc.warning == "") != (got == "") {
				t.Errorf("warnings = %q, want %q", c.Warnings, tc.warning)
			}
		})
	}
}

// TestTargetedDirectoryReasons: members copied to another path keep the
// source's content and say which directory brought them; what a member
// symlink points to outside the copy says which symlink.
func TestTargetedDirectoryReasons(t *testing.T) {
	c := dirTree(t).mustResolve(`{"contents": [{"source": "/srv/a", "target": "/opt/b"}]}`)
	for p, want := range map[string]struct{ source, why, from string }{
		"/opt/b/sub/y": {"/srv/a/sub/y", "in directory /opt/b/sub", "/opt/b/sub"},
		"/opt/other":   {"/opt/other", "target of symlink /opt/b/up", "/opt/b/up"},
		"/etc/conf":    {"/etc/conf", "target of symlink /opt/b/abs", "/opt/b/abs"},
	} {
		e, ok := c.Lookup(p)
		if !ok || e.Source != want.source || e.Why != want.why || e.From != want.from {
			t.Errorf("%s = %+v, want %+v", p, e, want)
		}
	}
}

// TestRuntimeLinks: a symlink into /dev, /proc, /sys or /run is kept as
// the symlink wherever the resolver meets it (a source, a source copied
// to another path, a link on the way, a unit), and what it points to is
// never copied from the root.
func TestRuntimeLinks(t *testing.T) {
	for _, tc := range []struct {
		name, manifest string
		want           []string
	}{
		{"source", `{"contents": [{"source": "/etc/systemd/system/m.service"}]}`,
			[]string{"/etc/systemd/system/m.service -> /dev/null"}},
		{"targeted source", `{"contents": [{"source": "/etc/systemd/system/m.service", "target": "/x.service"}]}`,
			[]string{"/x.service -> /dev/null"}},
		{"link on the way", `{"contents": [{"source": "/etc/mtab"}]}`,
			[]string{"/etc/mtab -> ../proc/self/mounts"}},
		{"chain", `{"contents": [{"source": "/etc/resolv.conf"}]}`,
			[]string{"/etc/resolv.conf -> stub", "/etc/stub -> /run/systemd/resolve/stub-resolv.conf"}},
		{"unit", `{"unitDirs": ["/etc/systemd/system", "/usr/lib/systemd/system"], "units": ["m.service"]}`,
			[]string{"/etc/systemd/system/m.service -> /dev/null"}},
		{"list format", `[{"source": "/etc/systemd/system/m.service", "target": "/etc/m.service"}]`,
			[]string{"/etc/systemd/system/m.service -> /dev/null", "/etc/m.service -> /etc/systemd/system/m.service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			tr.write("/dev/null", "", 0o644)
			tr.write("/proc/self/mounts", "m", 0o644)
			tr.write("/run/systemd/resolve/stub-resolv.conf", "r", 0o644)
			tr.symlink("/etc/systemd/system/m.service", "/dev/null")
			tr.write("/usr/lib/systemd/system/m.service", "[Unit]\n", 0o644)
			tr.symlink("/etc/mtab", "../proc/self/mounts")
			tr.symlink("/etc/resolv.conf", "stub")
			tr.symlink("/etc/stub", "/run/systemd/resolve/stub-resolv.conf")
			c := tr.mustResolve(tc.manifest)
			sameList(t, paths(c), tc.want)
			if len(c.Warnings) > 0 {
				t.Errorf("warnings: %q", c.Warnings)
			}
			kept := false
			for _, e := range c.Entries {
				kept = kept || e.Kind == Symlink && strings.HasSuffix(e.Why, "is provided at boot)")
			}
			if !kept {
				t.Errorf("no link's reason says it is kept for boot: %+v", c.Entries)
			}
		})
	}
}

// TestDirMode: a make-initrd-ng list gives every directory copied from
// the root mode 0755, as make-initrd-ng's builder creates them; the
// object format keeps the source's mode unless dirMode says otherwise.
func TestDirMode(t *testing.T) {
	d := storePath("d")
	for _, tc := range []struct {
		name, manifest string
		want           fs.FileMode
	}{
		{"object", `{"contents": [{"source": "` + d + `"}]}`, 0o555},
		{"object with dirMode", `{"dirMode": "0750", "contents": [{"source": "` + d + `"}]}`, 0o750},
		{"list", `[{"source": "` + d + `"}]`, 0o755},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			tr.write(d+"/sub/f", "f", 0o444)
			for _, p := range []string{d + "/sub", d} {
				if err := os.Chmod(tr.path(p), 0o555); err != nil {
					t.Fatal(err)
				}
			}
			c := tr.mustResolve(tc.manifest)
			for _, p := range []string{d, d + "/sub"} {
				if e, ok := c.Lookup(p); !ok || e.Mode != tc.want {
					t.Errorf("%s = %+v, want mode %v", p, e, tc.want)
				}
			}
			if e, _ := c.Lookup(d + "/sub/f"); e == nil || e.Mode != 0o444 {
				t.Errorf("the file's mode changed: %+v", e)
			}
			if e, _ := c.Lookup("/nix/store"); e == nil || e.Mode != 0o755 {
				t.Errorf("a parent directory is not 0755: %+v", e)
			}
		})
	}
}

// TestBelowNonDirectory: no entry may lie below one that is not a
// directory, since no archive can hold both; names that sort between a
// file and its would-be children do not hide the conflict.
func TestBelowNonDirectory(t *testing.T) {
	for _, tc := range []struct {
		name, contents, want string
	}{
		{"below a file", `{"target": "/a", "text": "x"}, {"target": "/a/b", "text": "y"}`,
			"/a/b (manifest contents[1] (/a/b)) lies below /a, a file (manifest contents[0] (/a))"},
		{"below a symlink", `{"target": "/a", "symlink": "/etc"}, {"target": "/a/b/c", "text": "y"}`,
			"/a/b/c (manifest contents[1] (/a/b/c)) lies below /a, a symlink"},
		{"names between", `{"target": "/a", "text": "x"}, {"target": "/a-b", "text": "y"}, {"target": "/a.c/d", "text": "y"}, {"target": "/a/b", "text": "y"}`,
			"/a/b (manifest contents[3] (/a/b)) lies below /a, a file"},
		{"below a source", `{"source": "/etc/conf"}, {"target": "/etc/conf/x", "type": "fifo"}`,
			"/etc/conf/x (manifest contents[1] (/etc/conf/x)) lies below /etc/conf, a file (manifest contents[0] (/etc/conf))"},
		{"fine", `{"target": "/a", "type": "dir"}, {"target": "/a/b", "text": "y"}, {"target": "/a-b", "text": "y"}, {"target": "/a-b.d/c", "text": "y"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			tr.write("/etc/conf", "c", 0o644)
			_, err := tr.resolve(`{"contents": [` + tc.contents + `]}`)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}
