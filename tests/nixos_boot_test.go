package tests

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestBootNixOS builds the initrd NixOS's make-initrd-ng would be asked
// for, from a Nix-style store and its list manifest, and boots it: systemd
// from the store must run the wrapped program, mount the ext4 root and
// switch root into it, whose /sbin/init then prints the marker.
func TestBootNixOS(t *testing.T) {
	dir := t.TempDir()
	fx := buildNixOSFixture(t, dir, kernelVersion(t))
	img := filepath.Join(dir, "initrd.img")
	r := run(t, nil, "--manifest", fx.manifest, "--root", fx.root, "-o", img, "-c", "zstd")
	if r.code != 0 {
		t.Fatalf("mkinitrd-ng: exit %d\n%s", r.code, r.stderr)
	}
	// Masks and store programs are no cause for a warning.
	if strings.Contains(r.stderr, "warning:") {
		t.Errorf("mkinitrd-ng warned:\n%s", r.stderr)
	}
	checkNixOSImage(t, img, fx)
	log := bootRootDisk(t, dir, img)
	checkSteps(t, log, []string{
		"Welcome to NixOS 25.05 (mkinitrd-ng test)!",
		"Found device dev-vda.device.",
		"Finished systemd-fsck-root.service.",
		"Mounted sysroot.mount.",
		"Reached target initrd.target.",
		"Switching root.",
		"root init: pid=1 fs=ext2/ext3 by-label=testroot " + rootMarker})
	// Units that run beside the steps above, each before initrd.target.
	done := strings.Index(log, "Reached target initrd.target.")
	for _, want := range []string{"Finished systemd-modules-load.service.", wrapperMarker} {
		if i := strings.Index(log, want); i < 0 || i > done {
			t.Errorf("console log lacks %q before initrd.target; last lines:\n%s", want, tail(log, 60))
		}
	}
}

// checkNixOSImage checks the image's tree as make-initrd-ng gives it:
// the wrapped program beside its wrapper, directories 0755, and nothing
// outside the store but the manifest's targets and their parents, so no
// library of the build host.
func checkNixOSImage(t *testing.T, img string, fx nixosFixture) {
	t.Helper()
	allowed := map[string]bool{"/": true}
	for _, e := range fx.entries {
		if e.Target == nil {
			continue
		}
		for p := *e.Target; p != "/"; p = path.Dir(p) {
			allowed[p] = true
		}
	}
	found := false
	for _, e := range lsJSON(t, img).Entries {
		p := path.Clean("/" + e.Path)
		found = found || p == fx.wrapped
		if !allowed[p] && p != "/nix" && !strings.HasPrefix(p, "/nix/store") {
			t.Errorf("%s in the image is neither a store path nor a target of the manifest", p)
		}
		if e.Type == "dir" && e.Mode != "0755" {
			t.Errorf("directory %s has mode %s, make-initrd-ng's is 0755", p, e.Mode)
		}
	}
	if !found {
		t.Errorf("the image lacks %s, the program its wrapper execs", fx.wrapped)
	}
}
