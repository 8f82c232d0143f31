package units

import (
	"path"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// TestHostClosure runs on this machine's own units (Debian 12, systemd
// 252): the closure of what an initrd starts must hold the units and
// executables systemd needs there.
func TestHostClosure(t *testing.T) {
	fsys, err := rootfs.New("/")
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if _, err := fsys.Stat("/lib/systemd/system/initrd.target"); err != nil {
		t.Skipf("this host has no systemd initrd units: %v", err)
	}
	names := []string{"initrd.target", "initrd-switch-root.service", "systemd-udevd.service"}
	units := func(r *Result) map[string]bool {
		m := map[string]bool{}
		for _, it := range r.Items {
			m[strings.TrimPrefix(it.Path, path.Dir(it.Path)+"/")] = true
			m[it.Path] = true
		}
		return m
	}
	execs := func(r *Result) map[string]bool {
		m := map[string]bool{}
		for _, e := range r.Execs {
			m[e.Path] = true
		}
		return m
	}

	plain, err := Closure(fsys, names, Options{})
	if err != nil {
		t.Fatalf("FollowWants false: %v", err)
	}
	got := units(plain)
	for _, u := range []string{"initrd.target", "basic.target", "sysinit.target", "sockets.target",
		"initrd-switch-root.service", "initrd-switch-root.target", "emergency.target", "emergency.service",
		"systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
		"initrd-root-fs.target", "initrd-fs.target", "initrd-parse-etc.service"} {
		if !got[u] {
			t.Errorf("FollowWants false: %s missing", u)
		}
	}
	for _, it := range plain.Items {
		if strings.Contains(it.Path, ".wants/") || strings.Contains(it.Path, ".requires/") {
			t.Errorf("FollowWants false includes %s", it.Path)
		}
	}
	x := execs(plain)
	if !x["/lib/systemd/systemd-udevd"] && !x["/usr/lib/systemd/systemd-udevd"] {
		t.Errorf("no systemd-udevd in %q", execPaths(plain))
	}
	// Bare names, found in systemd's PATH: the first match is /usr/bin.
	for _, bare := range []string{"systemctl", "udevadm"} {
		if !x["/usr/bin/"+bare] && !x["/bin/"+bare] && !x["/usr/sbin/"+bare] && !x["/sbin/"+bare] {
			t.Errorf("no %s in %q", bare, execPaths(plain))
		}
	}
	// "@": the word after the generator is its argv[0], not a file.
	if !x["/lib/systemd/system-generators/systemd-fstab-generator"] {
		t.Errorf("no systemd-fstab-generator in %q", execPaths(plain))
	}
	for p := range x {
		if strings.HasSuffix(p, "systemd-sysroot-fstab-check") {
			t.Errorf("argv[0] taken for a file: %s", p)
		}
	}
	if _, err := fsys.Stat("/bin/plymouth"); err != nil && !hasWarning(plain, "emergency.service", "/bin/plymouth not found") {
		t.Errorf("no warning for emergency.service's plymouth: %q", plain.Warnings)
	}

	wants, err := Closure(fsys, names, Options{FollowWants: true})
	if err != nil {
		t.Fatalf("FollowWants true: %v", err)
	}
	got = units(wants)
	for _, p := range []string{"/lib/systemd/system/sockets.target.wants/systemd-udevd-control.socket",
		"/lib/systemd/system/sysinit.target.wants/systemd-udevd.service",
		"systemd-journald.socket", "kmod-static-nodes.service", "systemd-tmpfiles-setup-dev.service"} {
		if !got[p] {
			t.Errorf("FollowWants true: %s missing", p)
		}
	}
	for p := range units(plain) {
		if !got[p] {
			t.Errorf("FollowWants true lost %s", p)
		}
	}
	if len(wants.Items) <= len(plain.Items) || len(wants.Execs) <= len(plain.Execs) {
		t.Errorf("following wants added nothing: %d/%d items, %d/%d execs",
			len(plain.Items), len(wants.Items), len(plain.Execs), len(wants.Execs))
	}
}
