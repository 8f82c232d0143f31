package tests

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// debRoot is a root directory with an empty dpkg database: dpkg
// --root installs into it as into a system, and runs the maintainer
// scripts on this machine with $DPKG_ROOT set (--force-script-chrootless),
// so nothing outside it is installed.
type debRoot struct{ dir string }

func newDebRoot(t *testing.T) debRoot {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"var/lib/dpkg/status":    "",
		"var/lib/dpkg/available": "",
		"var/lib/dpkg/info/":     "",
		"var/lib/dpkg/updates/":  "",
		"var/lib/dpkg/triggers/": "",
	})
	return debRoot{dir: dir}
}

// dpkg runs dpkg on the root.
func (r debRoot) dpkg(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, nil, nil, "dpkg", append([]string{"--root=" + r.dir, "--force-script-chrootless"}, args...)...)
}

// files lists the root's files and directories, the dpkg database aside.
func (r debRoot) files(t *testing.T) []string {
	t.Helper()
	var out []string
	must(t, filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.dir, p)
		if rel == "var/lib/dpkg" {
			return filepath.SkipDir
		}
		if rel != "." && rel != "var" && rel != "var/lib" {
			out = append(out, rel)
		}
		return nil
	}))
	return out
}

// buildDeb runs make deb and returns the package.
func buildDeb(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root to give the files their owner")
	}
	for _, tool := range []string{"dpkg-deb", "make", "fakeroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	out := t.TempDir()
	r := runCmd(t, nil, nil, "make", "-C", "..", "--no-print-directory", "deb", "DEB_OUT="+out, "DEB_STAGE="+filepath.Join(t.TempDir(), "stage"))
	if r.code != 0 {
		t.Fatalf("make deb: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "mkinitrd-ng_*_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %q", debs)
	}
	return debs[0]
}

// fakeDeb builds a package of name with the control fields and triggers
// given, and no files.
func fakeDeb(t *testing.T, name, fields, triggers string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"DEBIAN/control": "Package: " + name + "\nVersion: 1.0\nArchitecture: all\n" +
		"Maintainer: tests <tests@example.org>\nDescription: a test package\n" + fields}
	if triggers != "" {
		files["DEBIAN/triggers"] = triggers
	}
	writeFiles(t, dir, files)
	deb := dir + ".deb"
	if r := runCmd(t, nil, nil, "dpkg-deb", "--root-owner-group", "--build", dir, deb); r.code != 0 {
		t.Fatalf("dpkg-deb --build %s: %s", name, r.stderr)
	}
	return deb
}

// TestDeb builds the package with make deb, checks its control file and
// lintian's verdict, installs it with dpkg into an empty root, checks
// that the hooks run (kernel-install add with the installed plugin,
// update-initramfs, the update-initramfs trigger of another package), that
// it provides linux-initramfs-tool and conflicts with initramfs-tools,
// then that dpkg -r leaves only the conffiles and dpkg -P nothing.
func TestDeb(t *testing.T) {
	deb := buildDeb(t)
	info := runCmd(t, nil, nil, "dpkg-deb", "-I", deb, "control", "triggers", "conffiles")
	for _, want := range []string{"Package: mkinitrd-ng", "Provides: linux-initramfs-tool", "Conflicts: initramfs-tools, dracut",
		"Recommends: zstd, xz-utils", "Description: ", "interest-noawait update-initramfs", "/etc/kernel/postinst.d/mkinitrd-ng"} {
		if !strings.Contains(info.stdout, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info.stdout)
		}
	}
	checkLintian(t, deb)
	root := newDebRoot(t)
	if r := root.dpkg(t, "-i", deb); r.code != 0 {
		t.Fatalf("dpkg -i: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	installed := root.files(t)
	for _, want := range []string{"usr/bin/mkinitrd-ng", "usr/share/man/man1/mkinitrd-ng.1.gz",
		"usr/share/bash-completion/completions/mkinitrd-ng", "usr/share/zsh/vendor-completions/_mkinitrd-ng",
		"usr/share/fish/vendor_completions.d/mkinitrd-ng.fish", "usr/lib/kernel/install.d/50-mkinitrd-ng.install",
		"etc/kernel/postinst.d/mkinitrd-ng", "etc/kernel/postrm.d/mkinitrd-ng", "etc/mkinitrd-ng/host",
		"etc/mkinitrd-ng/README", "usr/sbin/update-initramfs", "usr/share/doc/mkinitrd-ng/copyright"} {
		if !slices.Contains(installed, want) {
			t.Errorf("%s not installed", want)
		}
	}
	bin := filepath.Join(root.dir, "usr/bin/mkinitrd-ng")
	version := runCmd(t, nil, nil, bin, "--version")
	// The commit is known when the package is built from a git clone; go
	// build stamps none in a linked work tree, whose .git is a file.
	fi, err := os.Stat("../.git")
	inGit := err == nil && fi.IsDir() && exec.Command("git", "-C", "..", "rev-parse", "HEAD").Run() == nil
	if version.code != 0 || !strings.Contains(version.stdout, "go1.") || inGit && !strings.Contains(version.stdout, "commit ") {
		t.Errorf("--version: exit %d, %q: want the version, the commit and the Go version", version.code, version.stdout)
	}
	t.Run("kernel-install", func(t *testing.T) { debKernelInstall(t, root) })
	t.Run("update-initramfs", func(t *testing.T) { debUpdateInitramfs(t, root) })
	t.Run("trigger", func(t *testing.T) {
		r := root.dpkg(t, "-i", fakeDeb(t, "udev-like", "", "activate-noawait update-initramfs\n"))
		if r.code != 0 || !strings.Contains(r.stdout, "Processing triggers for mkinitrd-ng") {
			t.Errorf("a package that activates update-initramfs: exit %d, mkinitrd-ng not triggered:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("provides", func(t *testing.T) {
		if r := root.dpkg(t, "-i", fakeDeb(t, "linux-image-like", "Depends: initramfs-tools | linux-initramfs-tool\n", "")); r.code != 0 {
			t.Errorf("a kernel package's dependency: exit %d\n%s", r.code, r.stderr)
		}
		// Removing the provider would break the dependency.
		if r := root.dpkg(t, "-r", "mkinitrd-ng"); r.code == 0 || !strings.Contains(r.stderr, "linux-image-like depends on") {
			t.Errorf("dpkg -r of the only initramfs tool: exit %d\n%s", r.code, r.stderr)
		}
		if r := root.dpkg(t, "-P", "linux-image-like", "udev-like"); r.code != 0 {
			t.Fatalf("dpkg -P of the test packages: %s", r.stderr)
		}
	})
	t.Run("conflicts", func(t *testing.T) { debConflicts(t, deb) })
	if r := root.dpkg(t, "-r", "mkinitrd-ng"); r.code != 0 {
		t.Fatalf("dpkg -r: exit %d\n%s", r.code, r.stderr)
	}
	conffiles := []string{"etc", "etc/kernel", "etc/kernel/postinst.d", "etc/kernel/postinst.d/mkinitrd-ng", "etc/kernel/postrm.d",
		"etc/kernel/postrm.d/mkinitrd-ng", "etc/mkinitrd-ng", "etc/mkinitrd-ng/README", "etc/mkinitrd-ng/host"}
	if got := root.files(t); !slices.Equal(got, conffiles) {
		t.Errorf("after dpkg -r: %q, want the conffiles %q", got, conffiles)
	}
	if r := root.dpkg(t, "-P", "mkinitrd-ng"); r.code != 0 {
		t.Fatalf("dpkg -P: exit %d\n%s", r.code, r.stderr)
	}
	if got := root.files(t); len(got) != 0 {
		t.Errorf("after dpkg -P: %q left", got)
	}
}

// debConflicts: dpkg refuses the package beside initramfs-tools, whose
// hooks would write the same images.
func debConflicts(t *testing.T, deb string) {
	root := newDebRoot(t)
	if r := root.dpkg(t, "-i", fakeDeb(t, "initramfs-tools", "", "")); r.code != 0 {
		t.Fatalf("installing a fake initramfs-tools: %s", r.stderr)
	}
	r := root.dpkg(t, "-i", deb)
	if r.code == 0 || !strings.Contains(r.stderr, "conflicts with initramfs-tools") {
		t.Errorf("dpkg -i beside initramfs-tools: exit %d\n%s", r.code, r.stderr)
	}
}

// checkLintian runs lintian, if installed: no error or warning but the
// overridden ones, which contrib/deb/lintian-overrides explains.
func checkLintian(t *testing.T, deb string) {
	t.Helper()
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Log("lintian is not installed: not checked")
		return
	}
	r := runCmd(t, nil, nil, "lintian", "--fail-on", "error,warning", deb)
	if r.code != 0 {
		t.Errorf("lintian: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// debKernelInstall: kernel-install add with the installed plugin, which
// calls the installed binary, builds the image.
func debKernelInstall(t *testing.T, root debRoot) {
	img := newHookImage(t, t.TempDir())
	k := newKernelInstall(t, "layout=bls\n", "MKINITRD_NG_MANIFEST="+img.manifest,
		"KERNEL_INSTALL_PLUGINS="+filepath.Join(root.dir, "usr/lib/kernel/install.d/50-mkinitrd-ng.install")+
			" /usr/lib/kernel/install.d/90-loaderentry.install",
		"MKINITRD_NG="+filepath.Join(root.dir, "usr/bin/mkinitrd-ng"))
	if r := k.run(t, "add", testKVER, k.kernel); r.code != 0 {
		t.Fatalf("kernel-install add: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	img.check(t, filepath.Join(k.entryDir(), "initrd"))
}

// debUpdateInitramfs: update-initramfs -u builds the newest kernel's
// image through the installed Debian hook, -d removes it.
func debUpdateInitramfs(t *testing.T, root debRoot) {
	img := newHookImage(t, t.TempDir())
	boot := t.TempDir()
	writeFiles(t, boot, map[string]string{"vmlinuz-6.1.0-9-amd64": "", "vmlinuz-6.1.0-10-amd64": ""})
	env := []string{"MKINITRD_NG_HOOK_DIR=" + filepath.Join(root.dir, "etc/kernel"), "MKINITRD_NG_MANIFEST=" + img.manifest,
		"MKINITRD_NG=" + filepath.Join(root.dir, "usr/bin/mkinitrd-ng"), "DEB_MAINT_PARAMS=remove"}
	cmd := filepath.Join(root.dir, "usr/sbin/update-initramfs")
	if r := runCmd(t, env, nil, cmd, "-u", "-b", boot); r.code != 0 {
		t.Fatalf("update-initramfs -u: exit %d\n%s", r.code, r.stderr)
	}
	if got, want := dirNames(t, boot), []string{"initrd.img-6.1.0-10-amd64", "vmlinuz-6.1.0-10-amd64", "vmlinuz-6.1.0-9-amd64"}; !slices.Equal(got, want) {
		t.Fatalf("boot holds %q, want %q (the newest kernel's image)", got, want)
	}
	img.check(t, filepath.Join(boot, "initrd.img-6.1.0-10-amd64"))
	if r := runCmd(t, env, nil, cmd, "-d", "-k", "6.1.0-10-amd64", "-b", boot); r.code != 0 || exists(filepath.Join(boot, "initrd.img-6.1.0-10-amd64")) {
		t.Errorf("update-initramfs -d: exit %d, image still there\n%s", r.code, r.stderr)
	}
	if r := runCmd(t, env, nil, cmd, "-k", "all"); r.code != 2 {
		t.Errorf("update-initramfs without -c, -u or -d: exit %d, want 2", r.code)
	}
}
