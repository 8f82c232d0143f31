package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHostileRootReadsOnlyTheRoot builds from a root whose symlinks point
// at absolute host paths and climb with "..", whose ld.so.conf includes
// host-looking globs, and whose program needs a loader the root lacks
// (the host has one). strace proves that, once the root is open, every
// source read is an openat2 confined to it, and the archive holds the
// root's files, not the host's.
func TestHostileRootReadsOnlyTheRoot(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"etc/passwd":              "the root's passwd\n",
		"etc/ld.so.conf":          "include /etc/ld.so.conf.d/*.conf\n/../../../usr/lib/x86_64-linux-gnu\n",
		"etc/ld.so.conf.d/a.conf": "/lib/x86_64-linux-gnu\n",
		"usr/bin/abs":             "->/etc/passwd",
		"usr/bin/dots":            "->../../../../../../etc/passwd",
		"usr/bin/dir":             "->/usr/lib/../../..",
		"usr/bin/script":          "#!/../../bin/sh\n",
		"bin/sh":                  "the root's sh, not ELF\n",
	})
	dir := t.TempDir()
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(`{"contents": [{"source": "/usr/bin/abs"}, {"source": "/usr/bin/dots"},
		{"source": "/usr/bin/script"}, {"source": "/usr/bin/dir/etc/passwd", "target": "/copy"}]}`), 0o644))
	out := filepath.Join(dir, "initrd.img")
	trace := filepath.Join(dir, "strace.log")
	r := runCmd(t, nil, nil, "strace", "-f", "-qq", "-e", "trace=open,openat,openat2,stat,lstat,newfstatat,readlink,readlinkat",
		"-o", trace, exe, "-m", m, "--root", root, "-o", out, "-c", "none")
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng under strace: %s", r.stderr)
	}
	checkTrace(t, trace, root, dir)

	dest := t.TempDir()
	data, err := os.ReadFile(out)
	must(t, err)
	if c := runCmdIn(t, dest, nil, data, "cpio", "-id", "--quiet"); c.code != 0 {
		t.Fatalf("cpio -id: %s", c.stderr)
	}
	for _, p := range []string{"etc/passwd", "copy"} {
		if got, _ := os.ReadFile(filepath.Join(dest, p)); string(got) != "the root's passwd\n" {
			t.Errorf("%s holds %q, not the root's file", p, got)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "bin/sh")); string(got) != "the root's sh, not ELF\n" {
		t.Errorf("bin/sh holds %q", got)
	}
}

// checkTrace fails on any file access, after the root is opened, that is
// not confined to the root or to the output's directory.
func checkTrace(t *testing.T, trace, root, outDir string) {
	t.Helper()
	log, err := os.ReadFile(trace)
	must(t, err)
	rootOpened := false
	fdcwd := regexp.MustCompile(`(?:open|openat|stat|lstat|newfstatat|readlink|readlinkat)\((?:AT_FDCWD, )?"([^"]*)"`)
	confined := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `"`+root+`"`) && strings.Contains(line, "O_PATH|O_DIRECTORY") {
			rootOpened = true
			continue
		}
		if !rootOpened {
			continue // the Go runtime, the manifest, the output file
		}
		if strings.Contains(line, "openat2(") {
			if !strings.Contains(line, "RESOLVE_IN_ROOT") {
				t.Errorf("openat2 without RESOLVE_IN_ROOT: %s", line)
			}
			confined++
			continue
		}
		if m := fdcwd.FindStringSubmatch(line); m != nil {
			p := m[1]
			if p == "" || p == "." || strings.HasPrefix(p, outDir) || strings.HasPrefix(p, "./.") {
				continue
			}
			t.Errorf("a path outside the root was touched: %s", line)
		}
	}
	if !rootOpened || confined == 0 {
		t.Fatalf("the trace shows no confined reads (root opened: %v)", rootOpened)
	}
}
