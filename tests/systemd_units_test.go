package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMaskedUnits builds an initrd of units some of which are masked
// (symlinks to /dev/null): each mask is kept as a symlink with its own
// text, and /dev/null, a device node, is neither copied nor an error.
func TestMaskedUnits(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	lib := "usr/lib/systemd/system/"
	writeFiles(t, root, map[string]string{
		"lib":                          "->usr/lib",
		lib + "a.target":               "[Unit]\nWants=m.service c.service d.service b.target\n",
		lib + "b.target":               "[Unit]\nDescription=plain\n",
		lib + "m.service":              "->/dev/null",
		lib + "c.service":              "[Service]\nExecStart=/bin/never-copied\n",
		lib + "e.service":              "[Service]\nExecStart=/bin/never-copied\n",
		"etc/systemd/system/c.service": "->/dev/null",
		"etc/systemd/system/d.service": "->../../../dev/null",
		"etc/systemd/system/e.service": "->/dev/null",
		"dev/":                         "",
	})
	// A real /dev/null in the root, as on a host: copying it would fail.
	must(t, unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(`{
 "unitDirs": ["/etc/systemd/system", "/lib/systemd/system"],
 "units": ["a.target"],
 "wants": {"a.target": ["e.service"]}
}`), 0o644))
	r := run(t, nil, "-m", m, "--root", root, "--dry-run")
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng --dry-run: exit %d\n%s", r.code, r.stderr)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(r.stdout, "\n") {
		lines[l] = true
	}
	for _, tt := range []struct {
		line string
		want bool
	}{
		{"symlink 0777 0:0 /usr/lib/systemd/system/m.service -> /dev/null", true},
		{"symlink 0777 0:0 /etc/systemd/system/c.service -> /dev/null", true},
		{"symlink 0777 0:0 /etc/systemd/system/d.service -> ../../../dev/null", true},
		{"symlink 0777 0:0 /etc/systemd/system/e.service -> /dev/null", true},
		{"symlink 0777 0:0 /etc/systemd/system/a.target.wants/e.service -> /etc/systemd/system/e.service", true},
		{"symlink 0777 0:0 /lib -> usr/lib", true},
		{"file    0644 0:0 /usr/lib/systemd/system/b.target", true},
		// Masked units are not read: their files and programs stay out.
		{"file    0644 0:0 /usr/lib/systemd/system/c.service", false},
		{"file    0644 0:0 /usr/lib/systemd/system/e.service", false},
		{"dir     0755 0:0 /dev", false},
	} {
		if lines[tt.line] != tt.want {
			t.Errorf("line %q present = %v, want %v; entries:\n%s", tt.line, !tt.want, tt.want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, " /dev/null 1:3") {
		t.Errorf("a /dev/null device entry was made:\n%s", r.stdout)
	}
	// The archive itself builds: nothing asks for the device's content.
	if r := run(t, nil, "-m", m, "--root", root, "-o", filepath.Join(dir, "img"), "-c", "none"); r.code != 0 {
		t.Fatalf("mkinitrd-ng: exit %d\n%s", r.code, r.stderr)
	}
}
