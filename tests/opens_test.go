package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDryRunOpensEachFileOnce resolves a gcc-built program, its library,
// libc and ld.so under strace: each file of the root is opened for reading
// once, though the resolver looks at each file's first bytes and the ELF
// loader parses it, the libraries are found under /lib (a symlink) and
// archived at their /usr/lib path, and a script's interpreter reaches the
// program again under another name.
func TestDryRunOpensEachFileOnce(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	libdir := "/usr/lib/x86_64-linux-gnu"
	for _, lib := range []string{"libc.so.6", "ld-linux-x86-64.so.2"} {
		data, err := os.ReadFile(filepath.Join(libdir, lib))
		must(t, err)
		writeFiles(t, root, map[string]string{libdir + "/" + lib: string(data)})
	}
	writeFiles(t, root, map[string]string{
		"lib":                            "->usr/lib",
		"lib64":                          "->usr/lib64",
		"usr/lib64/ld-linux-x86-64.so.2": "->/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"usr/sbin/hello":                 "->../bin/greet",
		"usr/bin/script":                 "#!/usr/sbin/hello\n",
	})
	lib := filepath.Join(root, libdir, "libgreet.so.1")
	for _, c := range []struct {
		out, src string
		flags    []string
	}{
		{lib, "int greet(void) { return 0; }\n", []string{"-shared", "-fPIC", "-Wl,-soname,libgreet.so.1"}},
		{filepath.Join(root, "usr/bin/greet"), "int greet(void); int main(void) { return greet(); }\n", []string{lib}},
	} {
		src := filepath.Join(tmp, filepath.Base(c.out)+".c")
		must(t, os.WriteFile(src, []byte(c.src), 0o644))
		args := append([]string{"-o", c.out, src}, c.flags...)
		if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, b)
		}
	}
	m := filepath.Join(tmp, "m.json")
	must(t, os.WriteFile(m, []byte(`{"contents": [{"source": "/usr/bin/greet"}, {"source": "/usr/bin/script"}]}`), 0o644))
	trace := filepath.Join(tmp, "strace")
	// -ff writes one log per thread, so that no call is split in two;
	// -y names the file each returned descriptor is open on.
	r := runCmd(t, nil, nil, "strace", "-ff", "-qq", "-y", "-e", "trace=open,openat,openat2",
		"-o", trace, exe, "-m", m, "--root", root, "--dry-run")
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng under strace: %s", r.stderr)
	}
	for _, p := range []string{"/usr/bin/greet", libdir + "/libgreet.so.1", libdir + "/libc.so.6", libdir + "/ld-linux-x86-64.so.2", "/usr/sbin/hello -> ../bin/greet"} {
		if !strings.Contains(r.stdout, p) {
			t.Errorf("the closure lacks %s:\n%s", p, r.stdout)
		}
	}

	opens := readOpens(t, trace, root, anyOpen)
	for _, p := range []string{"/usr/bin/greet", "/usr/bin/script", libdir + "/libgreet.so.1", libdir + "/libc.so.6", libdir + "/ld-linux-x86-64.so.2"} {
		if opens[p] != 1 {
			t.Errorf("%s opened %d times, want once", p, opens[p])
		}
	}
	if len(opens) != 5 {
		t.Errorf("files opened: %v, want the five above", opens)
	}
}

// TestSystemdDryRunOpensEachFileOnce resolves the systemd example on this
// host, whose unit files and modprobe.d files are read by the units and
// kmod packages and modules by kmod for their .modinfo: the resolver uses
// what they read instead of opening the files again.
func TestSystemdDryRunOpensEachFileOnce(t *testing.T) {
	tmp := t.TempDir()
	m := systemdManifest(t, tmp)
	trace := filepath.Join(tmp, "strace")
	r := runCmd(t, nil, nil, "strace", "-ff", "-qq", "-y", "-e", "trace=openat2",
		"-o", trace, exe, "-m", m, "--kernel-version", kernelVersion(t), "--dry-run")
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng under strace: %s", r.stderr)
	}
	// Only openat2: the resolver reads the root through it, and the
	// dynamic loader opens our own libraries with openat.
	opens := readOpens(t, trace, "/", rootOpen)
	kinds := map[string]int{}
	for p, n := range opens {
		if n != 1 {
			t.Errorf("%s opened %d times, want once", p, n)
		}
		switch {
		case strings.HasSuffix(p, ".service"):
			kinds["unit"]++
		case strings.Contains(p, "/modprobe.d/"):
			kinds["modprobe.d"]++
		case strings.Contains(p, ".ko"):
			kinds["module"]++
		}
	}
	// What the check covers: a file of each kind was read.
	for _, k := range []string{"unit", "module"} {
		if kinds[k] == 0 {
			t.Errorf("no %s file opened: %v", k, kinds)
		}
	}
	t.Logf("%d files opened once each; %v", len(opens), kinds)
}

// The opening calls readOpens counts: any, or only openat2 (RESOLVE_IN_ROOT).
var (
	anyOpen  = regexp.MustCompile(`^open(?:at2?)?\(.*\) = \d+<([^>]*)>$`)
	rootOpen = regexp.MustCompile(`^openat2\(.*\) = \d+<([^>]*)>$`)
)

// readOpens counts, in the logs of strace -ff -y written to prefix.PID,
// the successful opens for reading, by calls that match call, of each file
// under root. O_PATH opens (stat, readlink) and directories are left out:
// they read no content.
func readOpens(t *testing.T, prefix, root string, call *regexp.Regexp) map[string]int {
	t.Helper()
	real, err := filepath.EvalSymlinks(root)
	must(t, err)
	real = strings.TrimSuffix(real, "/")
	logs, err := filepath.Glob(prefix + ".*")
	must(t, err)
	if len(logs) == 0 {
		t.Fatal("strace wrote no log")
	}
	opens := map[string]int{}
	for _, log := range logs {
		data, err := os.ReadFile(log)
		must(t, err)
		for _, line := range strings.Split(string(data), "\n") {
			m := call.FindStringSubmatch(line)
			if m == nil || strings.Contains(line, "O_PATH") || strings.Contains(line, "O_DIRECTORY") {
				continue
			}
			if rel, ok := strings.CutPrefix(m[1], real+"/"); ok {
				opens["/"+rel]++
			}
		}
	}
	return opens
}
