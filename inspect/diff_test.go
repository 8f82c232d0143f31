package inspect

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

const (
	oldStore = "nix/store/0c6rq7qbmhm6h9dkb9dvk0m1fqxmj1x5-systemd-255"
	newStore = "nix/store/9zs7v0wnqrbdnbx2s2bq2x6h8w5v1ym3-systemd-256"
)

func diffImages(t *testing.T) (*Image, *Image) {
	t.Helper()
	read := func(files ...file) *Image {
		img, err := Read(bytes.NewReader(compress(t, "gzip", archive(t, true, files...))))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	old := read(
		file{name: "usr", typ: cpiogen.TypeDir, mode: 0o755},
		file{name: "usr/bin", typ: cpiogen.TypeDir, mode: 0o755},
		file{name: "usr/bin/same", data: "same"},
		file{name: "usr/bin/grows", data: "small"},
		file{name: "usr/bin/gone", data: "bye bye"},
		file{name: "usr/bin/chmod", data: "x", mode: 0o644},
		file{name: "usr/bin/retarget", link: "a"},
		file{name: "etc/edit", data: "aaaa"},
		file{name: oldStore + "/lib/libsystemd.so", data: strings.Repeat("s", 100)},
	)
	new := read(
		file{name: "usr", typ: cpiogen.TypeDir, mode: 0o755},
		file{name: "usr/bin", typ: cpiogen.TypeDir, mode: 0o755},
		file{name: "usr/bin/same", data: "same"},
		file{name: "usr/bin/grows", data: "much larger now"},
		file{name: "usr/bin/new", data: "hello"},
		file{name: "usr/bin/chmod", data: "x", mode: 0o755},
		file{name: "usr/bin/retarget", link: "b"},
		file{name: "etc/edit", data: "bbbb"},
		file{name: newStore + "/lib/libsystemd.so", data: strings.Repeat("s", 150)},
	)
	return old, new
}

func TestCompare(t *testing.T) {
	old, new := diffImages(t)
	d := Compare(old, new, "old.img", "new.img", "", nil)
	if d.By != "path" || d.Groups != nil {
		t.Errorf("by %q, groups %v; want path and none", d.By, d.Groups)
	}
	if want := []string{"/" + newStore + "/lib/libsystemd.so", "/usr/bin/new"}; !reflect.DeepEqual(paths(d.Added), want) {
		t.Errorf("added %v, want %v", paths(d.Added), want)
	}
	if want := []string{"/" + oldStore + "/lib/libsystemd.so", "/usr/bin/gone"}; !reflect.DeepEqual(paths(d.Removed), want) {
		t.Errorf("removed %v, want %v", paths(d.Removed), want)
	}
	changed := map[string][]string{}
	for _, c := range d.Changed {
		changed[c.Path] = c.Fields
	}
	want := map[string][]string{
		"/usr/bin/grows":    {"size", "content"},
		"/usr/bin/chmod":    {"mode"},
		"/usr/bin/retarget": {"link"},
		"/etc/edit":         {"content"},
	}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	for _, c := range d.Changed {
		if c.Path == "/usr/bin/grows" && c.SizeDelta != 10 {
			t.Errorf("grows: size delta %d, want 10", c.SizeDelta)
		}
	}
	if d.CompressedDelta != new.Size-old.Size || d.Old.Size != old.Size || d.New.File != "new.img" {
		t.Errorf("sizes: %+v", d)
	}
	if want := int64(10 - 7 + 5 + 50); d.ContentDelta != want {
		t.Errorf("content delta %d, want %d", d.ContentDelta, want)
	}
	var text bytes.Buffer
	if err := d.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"old: old.img:", "entries: 2 added, 2 removed, 4 changed",
		"  + -rw-r--r-- 0:0          5  /usr/bin/new", "  ~ /usr/bin/grows: size 5 -> 15 (+10), content",
		"  ~ /usr/bin/chmod: mode 0644 -> 0755", "  ~ /usr/bin/retarget: link a -> b"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text output lacks %q:\n%s", s, text.String())
		}
	}
	if strings.Contains(text.String(), "\x1b") {
		t.Error("text output has escape sequences")
	}
}

func TestCompareGroups(t *testing.T) {
	old, new := diffImages(t)
	for _, tc := range []struct {
		by    string
		group Grouping
		want  map[string]Group
	}{
		{"dir", ByDir, map[string]Group{
			"/usr/bin":  {Name: "/usr/bin", OldContent: 4 + 5 + 7 + 1, NewContent: 4 + 15 + 5 + 1, Delta: 8, OldEntries: 6, NewEntries: 6, Added: 1, Removed: 1, Changed: 3},
			"/etc/edit": {Name: "/etc/edit", OldContent: 4, NewContent: 4, OldEntries: 1, NewEntries: 1, Changed: 1},
		}},
		{"store-path", ByStorePath, map[string]Group{
			"/nix/store/*-systemd-255": {Name: "/nix/store/*-systemd-255", OldContent: 100, Delta: -100, OldEntries: 1, Removed: 1},
			"/nix/store/*-systemd-256": {Name: "/nix/store/*-systemd-256", NewContent: 150, Delta: 150, NewEntries: 1, Added: 1},
		}},
	} {
		t.Run(tc.by, func(t *testing.T) {
			d := Compare(old, new, "a", "b", tc.by, tc.group)
			got := map[string]Group{}
			for _, g := range d.Groups {
				got[g.Name] = g
			}
			for name, w := range tc.want {
				if got[name] != w {
					t.Errorf("group %s = %+v, want %+v", name, got[name], w)
				}
			}
			for i := 1; i < len(d.Groups); i++ {
				if abs(d.Groups[i].Delta) > abs(d.Groups[i-1].Delta) {
					t.Errorf("groups not sorted by change: %+v", d.Groups)
				}
			}
			var text bytes.Buffer
			d.WriteText(&text)
			if !strings.Contains(text.String(), tc.by) || strings.Contains(text.String(), "added:\n") {
				t.Errorf("grouped text output:\n%s", text.String())
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		bytes int64
		pct   float64
		isPct bool
	}{
		{"0", 0, 0, false},
		{"1048576", 1 << 20, 0, false},
		{"500K", 500 << 10, 0, false},
		{"1M", 1 << 20, 0, false},
		{"1.5M", 3 << 19, 0, false},
		{"2g", 2 << 30, 0, false},
		{"10KiB", 10 << 10, 0, false},
		{"3MB", 3 << 20, 0, false},
		{"5%", 0, 5, true},
		{"0.5%", 0, 0.5, true},
	} {
		l, err := ParseLimit(tc.in)
		if err != nil || l.Bytes != tc.bytes || l.Percent != tc.pct || l.IsPct != tc.isPct {
			t.Errorf("ParseLimit(%q) = %+v, %v", tc.in, l, err)
		}
	}
	for _, bad := range []string{"", "M", "-1", "1T", "5%%", "abc", "-3%", "1e400", "NaN", "1.5", "2.5B"} {
		if l, err := ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want an error", bad, l)
		}
	}
}

func TestLimitExceeded(t *testing.T) {
	kb, _ := ParseLimit("1K")
	pct, _ := ParseLimit("10%")
	for _, tc := range []struct {
		l        Limit
		old, new int64
		want     bool
	}{
		{kb, 1000, 2024, false}, // exactly the limit
		{kb, 1000, 2025, true},
		{kb, 5000, 100, false}, // shrinking
		{pct, 1000, 1100, false},
		{pct, 1000, 1101, true},
		{pct, 0, 1, true},
		{pct, 0, 0, false},
	} {
		if got := tc.l.Exceeded(tc.old, tc.new); got != tc.want {
			t.Errorf("%s: %d -> %d: exceeded %v, want %v", tc.l, tc.old, tc.new, got, tc.want)
		}
	}
}

func TestGroupNames(t *testing.T) {
	for _, tc := range []struct{ path, dir, store, storeGroup string }{
		{"/usr/lib/x/y.so", "/usr/lib", "", NotInStore},
		{"/init", "/init", "", NotInStore},
		{"/", "/", "", NotInStore},
		{"/nix/store/0c6rq7qbmhm6h9dkb9dvk0m1fqxmj1x5-bash-5.2/bin/bash", "/nix/store",
			"/nix/store/0c6rq7qbmhm6h9dkb9dvk0m1fqxmj1x5-bash-5.2", "/nix/store/*-bash-5.2"},
		{"/gnu/store/0c6rq7qbmhm6h9dkb9dvk0m1fqxmj1x5-guile-3.0", "/gnu/store",
			"/gnu/store/0c6rq7qbmhm6h9dkb9dvk0m1fqxmj1x5-guile-3.0", "/gnu/store/*-guile-3.0"},
		{"/nix/store/short-hash", "/nix/store", "", NotInStore},
	} {
		e := &Entry{Path: tc.path}
		if got := ByDir(e); got != tc.dir {
			t.Errorf("ByDir(%s) = %s, want %s", tc.path, got, tc.dir)
		}
		if got := StorePath(tc.path); got != tc.store {
			t.Errorf("StorePath(%s) = %s, want %s", tc.path, got, tc.store)
		}
		if got := ByStorePath(e); got != tc.storeGroup {
			t.Errorf("ByStorePath(%s) = %s, want %s", tc.path, got, tc.storeGroup)
		}
	}
}

func TestPackages(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "info")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(info, 0o755))
	must(os.WriteFile(filepath.Join(info, "libc6:amd64.list"), []byte("/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n"), 0o644))
	must(os.WriteFile(filepath.Join(info, "bash.list"), []byte("/.\n/bin\n/bin/bash\n/usr/share/doc/bash/README\n"), 0o644))
	must(os.WriteFile(filepath.Join(info, "udev.list"), []byte("/usr/lib/udev/rules.d/50-udev.rules\n/usr/bin/udevadm\n"), 0o644))
	must(os.WriteFile(filepath.Join(info, "bash.md5sums"), []byte("not a list\n"), 0o644))
	p, err := ReadPackages(dir)
	must(err)
	group := p.Grouping()
	for _, tc := range []struct{ path, typ, want string }{
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", TypeFile, "libc6:amd64"}, // merged /usr
		{"/lib/x86_64-linux-gnu/libc.so.6", TypeFile, "libc6:amd64"},
		{"/usr/bin/bash", TypeFile, "bash"},
		{"/bin/udevadm", TypeSymlink, "udev"},
		{"/usr/lib/udev/rules.d/50-udev.rules", TypeFile, "udev"},
		{"/usr/share/doc/bash/README", TypeFile, "bash"},
		{"/init", TypeFile, Unknown},
		{"/lib", TypeDir, Directories},
	} {
		if got := group(&Entry{Path: tc.path, Type: tc.typ}); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.path, got, tc.want)
		}
	}
	if _, err := ReadPackages(t.TempDir()); err == nil {
		t.Error("an empty directory read as a dpkg database")
	}
}

func TestStats(t *testing.T) {
	c := &resolve.Closure{Entries: []resolve.Entry{
		{Path: "/usr", Kind: resolve.Dir},
		{Path: "/usr/bin/a", Kind: resolve.File, Source: "/a", Size: 100},
		{Path: "/usr/bin/b", Kind: resolve.File, Source: "/b", Size: 100, HardLink: "1:2"},
		{Path: "/usr/bin/c", Kind: resolve.File, Source: "/b", Size: 100, HardLink: "1:2"},
		{Path: "/init", Kind: resolve.File, Data: []byte("#!/bin/sh\n")},
		{Path: "/bin", Kind: resolve.Symlink, LinkTarget: "usr/bin"},
		{Path: "/" + oldStore + "/lib/x.so", Kind: resolve.File, Source: "/x", Size: 7},
		{Path: "/dev/console", Kind: resolve.CharDev, Major: 5, Minor: 1},
	}}
	s := NewStats(c)
	if s.Entries != 8 || s.EntriesByKind["file"] != 5 || s.EntriesByKind["dir"] != 1 || s.EntriesByKind["char"] != 1 {
		t.Errorf("entry counts %d %v", s.Entries, s.EntriesByKind)
	}
	if want := int64(100 + 100 + 10 + 7); s.ContentBytes != want || s.BytesByKind["file"] != want {
		t.Errorf("content %d, by kind %v, want %d", s.ContentBytes, s.BytesByKind, want)
	}
	if s.BytesByKind["symlink"] != 7 {
		t.Errorf("symlink bytes %d, want 7", s.BytesByKind["symlink"])
	}
	if want := map[string]int64{"/usr/bin": 200, "/init": 10, "/nix/store": 7}; !reflect.DeepEqual(s.BytesByTopDir, want) {
		t.Errorf("by top dir %v, want %v", s.BytesByTopDir, want)
	}
	if want := map[string]int64{"/" + oldStore: 7}; !reflect.DeepEqual(s.BytesByStorePath, want) {
		t.Errorf("by store path %v, want %v", s.BytesByStorePath, want)
	}
	name := filepath.Join(t.TempDir(), "stats.json")
	s.Compressor = "zstd"
	if err := s.WriteFile(name); err != nil {
		t.Fatal(err)
	}
	back, err := ReadStats(name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("read back %+v, want %+v", back, s)
	}
	b, _ := os.ReadFile(name)
	for _, field := range []string{`"version": 1`, `"entries_by_kind"`, `"bytes_by_store_path"`, `"uncompressed_bytes"`,
		`"compressed_bytes"`, `"archive_compress"`, `"resolve"`, `"compressor": "zstd"`, `"level"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("stats file lacks %s:\n%s", field, b)
		}
	}
}

// TestStatsEarly: the early segments count, a prepended archive as kind
// "prepend", and a released microcode file by its Size.
func TestStatsEarly(t *testing.T) {
	c := &resolve.Closure{
		Entries: []resolve.Entry{{Path: "/init", Kind: resolve.File, Data: []byte("#!/bin/sh\n"), Size: 10}},
		Early: []resolve.EarlySegment{
			{Entries: []resolve.Entry{
				{Path: "/kernel", Kind: resolve.Dir},
				{Path: "/kernel/x86/microcode/GenuineIntel.bin", Kind: resolve.File, Size: 1000},
			}},
			{Archive: "/boot/early.cpio", Size: 512},
		},
	}
	s := NewStats(c)
	if s.Entries != 4 || s.EntriesByKind["prepend"] != 1 || s.EntriesByKind["file"] != 2 || s.EntriesByKind["dir"] != 1 {
		t.Errorf("entry counts %d %v", s.Entries, s.EntriesByKind)
	}
	if s.BytesByKind["prepend"] != 512 || s.ContentBytes != 1010 || s.BytesByTopDir["/kernel/x86"] != 1000 {
		t.Errorf("bytes by kind %v, content %d, by top dir %v", s.BytesByKind, s.ContentBytes, s.BytesByTopDir)
	}
}
