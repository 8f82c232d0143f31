package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The hooks are tested the way distributions run them: the real
// kernel-install(8) of systemd with its own 90-loaderentry.install, and
// Debian's run-parts(8), against temporary boot and configuration
// directories. Nothing under the real /boot or /etc is touched.

const (
	testKVER  = "6.1.0-test-amd64"
	machineID = "0123456789abcdef0123456789abcdef"
)

// defaultManifest is the path the hooks build from when
// $MKINITRD_NG_MANIFEST is unset.
const defaultManifest = "/etc/mkinitrd-ng/initrd.json"

// hookImage is a small image for hook tests: a text file and /bin/sh's
// closure from this host, gzip-compressed.
type hookImage struct {
	manifest string // path of the manifest
	want     []byte // what mkinitrd-ng builds from it, run directly
}

func newHookImage(t *testing.T, dir string) hookImage {
	t.Helper()
	m := filepath.Join(dir, "initrd.json")
	must(t, os.WriteFile(m, []byte(`{"compress": "gzip", "contents": [
		{"source": "/bin/sh"},
		{"target": "/etc/initrd-release", "text": "NAME=hooks-test\n"}
	]}`), 0o644))
	ref := filepath.Join(dir, "reference.img")
	if r := run(t, nil, "--manifest", m, "--output", ref); r.code != 0 {
		t.Fatalf("reference build: exit %d\n%s", r.code, r.stderr)
	}
	want, err := os.ReadFile(ref)
	must(t, err)
	must(t, os.Remove(ref))
	return hookImage{manifest: m, want: want}
}

// check asserts that the file at p is the image, and that GNU cpio lists
// the text file and the shell's closure in it.
func (h hookImage) check(t *testing.T, p string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("no initrd: %v", err)
	}
	if !bytes.Equal(got, h.want) {
		t.Fatalf("%s: %d bytes, differs from a direct build (%d bytes)", p, len(got), len(h.want))
	}
	cpioData := runCmd(t, nil, got, "gzip", "-dc")
	if cpioData.code != 0 {
		t.Fatalf("gzip -dc %s: %s", p, cpioData.stderr)
	}
	list := runCmd(t, nil, []byte(cpioData.stdout), "cpio", "-it", "--quiet")
	if list.code != 0 {
		t.Fatalf("cpio -t %s: %s", p, list.stderr)
	}
	names := strings.Fields(list.stdout)
	for _, want := range []string{"etc/initrd-release", "bin", "usr/bin/sh", "usr/bin/dash"} {
		if !slices.Contains(names, want) {
			t.Errorf("cpio -t %s: no %s in %q", p, want, names)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "/libc.so.") }) {
		t.Errorf("cpio -t %s: no libc in %q", p, names)
	}
}

// noDefaultManifest skips a test of the unconfigured case on a machine
// where mkinitrd-ng is configured: the hooks would build from it.
func noDefaultManifest(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(defaultManifest); err == nil {
		t.Skipf("%s exists on this machine: cannot test the unconfigured case", defaultManifest)
	}
}

func repoPath(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", p))
	must(t, err)
	return abs
}

// dirNames lists a directory, sorted; nil if it does not exist.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// kernelInstall is one temporary setup for kernel-install: $BOOT_ROOT,
// $KERNEL_INSTALL_CONF_ROOT (install.conf, cmdline) and a kernel image.
type kernelInstall struct {
	dir, boot, conf, kernel string
	env                     []string
}

func newKernelInstall(t *testing.T, installConf string, env ...string) *kernelInstall {
	t.Helper()
	dir := t.TempDir()
	k := &kernelInstall{
		dir:    dir,
		boot:   filepath.Join(dir, "boot"),
		conf:   filepath.Join(dir, "conf"),
		kernel: filepath.Join(dir, "vmlinuz-"+testKVER),
	}
	writeFiles(t, dir, map[string]string{
		"boot/":                 "",
		"conf/install.conf":     installConf,
		"conf/cmdline":          "root=/dev/vda ro\n",
		filepath.Base(k.kernel): "not really a kernel\n",
	})
	k.env = append([]string{
		"BOOT_ROOT=" + k.boot,
		"MACHINE_ID=" + machineID,
		"ENTRY_TOKEN=",
		"KERNEL_INSTALL_BYPASS=",
		"KERNEL_INSTALL_IMAGE_TYPE=",
		"KERNEL_INSTALL_CONF_ROOT=" + k.conf,
		// Our plugin and the one that installs the kernel and the staged
		// initrds; not the host's others (depmod, Debian's 85-initrd).
		"KERNEL_INSTALL_PLUGINS=" + repoPath(t, "contrib/kernel-install/50-mkinitrd-ng.install") +
			" /usr/lib/kernel/install.d/90-loaderentry.install",
		"TMPDIR=" + dir, // the staging area
		"MKINITRD_NG=" + exe,
	}, env...)
	return k
}

func (k *kernelInstall) run(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, k.env, nil, "kernel-install", args...)
}

func (k *kernelInstall) entryDir() string { return filepath.Join(k.boot, machineID, testKVER) }

func (k *kernelInstall) loaderEntry() string {
	return filepath.Join(k.boot, "loader", "entries", machineID+"-"+testKVER+".conf")
}

// initrdLines returns the initrd lines of the loader entry.
func (k *kernelInstall) initrdLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(k.loaderEntry())
	if err != nil {
		t.Fatalf("no loader entry: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "initrd" {
			lines = append(lines, f[1])
		}
	}
	return lines
}

func TestKernelInstallAddRemove(t *testing.T) {
	img := newHookImage(t, t.TempDir())
	k := newKernelInstall(t, "layout=bls\n", "MKINITRD_NG_MANIFEST="+img.manifest)
	r := k.run(t, "--verbose", "add", testKVER, k.kernel)
	if r.code != 0 {
		t.Fatalf("kernel-install add: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantCmd := "+" + exe + " --manifest " + img.manifest + " --kernel-version " + testKVER + " --output "
	if !strings.Contains(r.stdout, wantCmd) {
		t.Errorf("verbose output does not show %q:\n%s", wantCmd, r.stdout)
	}
	if !strings.Contains(r.stderr, "entries,") {
		t.Errorf("KERNEL_INSTALL_VERBOSE did not make mkinitrd-ng verbose:\n%s", r.stderr)
	}
	if got, want := dirNames(t, k.entryDir()), []string{"initrd", "linux"}; !slices.Equal(got, want) {
		t.Errorf("entry directory holds %q, want %q", got, want)
	}
	img.check(t, filepath.Join(k.entryDir(), "initrd"))
	lines := k.initrdLines(t)
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "/"+machineID+"/"+testKVER+"/initrd") {
		t.Errorf("loader entry initrd lines %q, want one for the built initrd", lines)
	}

	r = k.run(t, "remove", testKVER)
	if r.code != 0 {
		t.Fatalf("kernel-install remove: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{k.entryDir(), k.loaderEntry()} {
		if exists(p) {
			t.Errorf("%s still exists after remove", p)
		}
	}
}

// TestKernelInstallSkips covers the cases where the plugin builds
// nothing: the kernel must still be installed, which it would not be if
// the plugin exited 77 (kernel-install then skips the later plugins).
func TestKernelInstallSkips(t *testing.T) {
	custom := filepath.Join(t.TempDir(), "initrd-custom")
	must(t, os.WriteFile(custom, []byte("user's initrd"), 0o644))
	img := newHookImage(t, t.TempDir())
	tests := []struct {
		name        string
		installConf string
		env         []string
		extraArgs   []string
		wantInitrd  []string // expected initrd files in the entry directory
		unconfig    bool
	}{
		{name: "no manifest configured", installConf: "layout=bls\n", env: []string{"MKINITRD_NG_MANIFEST="}, unconfig: true},
		{name: "other generator", installConf: "layout=bls\ninitrd_generator=dracut\n",
			env: []string{"MKINITRD_NG_MANIFEST=" + img.manifest}},
		{name: "initrd on the command line", installConf: "layout=bls\n",
			env: []string{"MKINITRD_NG_MANIFEST=" + img.manifest}, extraArgs: []string{custom}, wantInitrd: []string{"initrd-custom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unconfig {
				noDefaultManifest(t)
			}
			k := newKernelInstall(t, tt.installConf, tt.env...)
			r := k.run(t, append([]string{"add", testKVER, k.kernel}, tt.extraArgs...)...)
			if r.code != 0 {
				t.Fatalf("kernel-install add: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			want := append([]string{"linux"}, tt.wantInitrd...)
			slices.Sort(want)
			if got := dirNames(t, k.entryDir()); !slices.Equal(got, want) {
				t.Errorf("entry directory holds %q, want %q", got, want)
			}
			if got := k.initrdLines(t); len(got) != len(tt.wantInitrd) {
				t.Errorf("loader entry initrd lines %q, want %d", got, len(tt.wantInitrd))
			}
		})
	}
}

// TestKernelInstallFails: a configured build that cannot be done fails
// kernel-install, before any loader entry is written.
func TestKernelInstallFails(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.json")
	must(t, os.WriteFile(broken, []byte(`{"contents": [{"source": "/no/such/file"}]}`), 0o644))
	tests := []struct {
		name, manifest, wantErr string
	}{
		{"manifest named but absent", filepath.Join(dir, "absent.json"), "absent.json: no such file"},
		{"build error", broken, "/no/such/file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKernelInstall(t, "layout=bls\n", "MKINITRD_NG_MANIFEST="+tt.manifest)
			r := k.run(t, "add", testKVER, k.kernel)
			if r.code == 0 {
				t.Fatalf("kernel-install add succeeded:\n%s%s", r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr does not mention %q:\n%s", tt.wantErr, r.stderr)
			}
			if exists(k.loaderEntry()) {
				t.Errorf("loader entry written despite the failed build")
			}
		})
	}
}

// TestKernelInstallPluginDirect runs the plugin as a kernel-install older
// than 251 would, without a staging area: it writes into the entry
// directory, and removes the image again.
func TestKernelInstallPluginDirect(t *testing.T) {
	dir := t.TempDir()
	img := newHookImage(t, dir)
	plugin := repoPath(t, "contrib/kernel-install/50-mkinitrd-ng.install")
	entry := filepath.Join(dir, "entry")
	kernel := filepath.Join(dir, "vmlinuz")
	must(t, os.WriteFile(kernel, []byte("kernel"), 0o644))
	env := []string{"MKINITRD_NG=" + exe, "MKINITRD_NG_MANIFEST=" + img.manifest,
		"KERNEL_INSTALL_STAGING_AREA=", "KERNEL_INSTALL_LAYOUT=", "KERNEL_INSTALL_INITRD_GENERATOR=",
		"KERNEL_INSTALL_IMAGE_TYPE=", "KERNEL_INSTALL_VERBOSE=0"}

	// No entry directory: nothing would install the image.
	if r := runCmd(t, env, nil, plugin, "add", testKVER, entry, kernel); r.code != 0 || exists(entry) {
		t.Fatalf("add without an entry directory: exit %d, entry created %v\n%s", r.code, exists(entry), r.stderr)
	}
	must(t, os.Mkdir(entry, 0o755))
	// A unified kernel image carries its initrd.
	if r := runCmd(t, append(env, "KERNEL_INSTALL_IMAGE_TYPE=uki"), nil, plugin, "add", testKVER, entry, kernel); r.code != 0 {
		t.Fatalf("add of a UKI: exit %d\n%s", r.code, r.stderr)
	}
	if got := dirNames(t, entry); len(got) != 0 {
		t.Fatalf("add of a UKI wrote %q", got)
	}
	if r := runCmd(t, env, nil, plugin, "add", testKVER, entry, kernel); r.code != 0 {
		t.Fatalf("add: exit %d\n%s", r.code, r.stderr)
	}
	img.check(t, filepath.Join(entry, "initrd"))
	if r := runCmd(t, env, nil, plugin, "remove", testKVER, entry); r.code != 0 {
		t.Fatalf("remove: exit %d\n%s", r.code, r.stderr)
	}
	if got := dirNames(t, entry); len(got) != 0 {
		t.Errorf("entry directory holds %q after remove", got)
	}
}

// runParts runs a hook directory as Debian's kernel packages do.
func runParts(t *testing.T, env []string, hookDir, kver, image string) result {
	t.Helper()
	return runCmd(t, env, nil, "run-parts", "--verbose", "--exit-on-error",
		"--arg="+kver, "--arg="+image, repoPath(t, hookDir))
}

func TestDebianHooks(t *testing.T) {
	img := newHookImage(t, t.TempDir())
	base := []string{"MKINITRD_NG=" + exe, "MKINITRD_NG_MANIFEST=" + img.manifest,
		"MKINITRD_NG_BOOT=", "INITRD=", "DEB_MAINT_PARAMS="}
	tests := []struct {
		name     string
		env      []string
		rmEnv    []string // added for postrm
		useBoot  bool     // set $MKINITRD_NG_BOOT to another directory
		unconfig bool
		build    bool // whether postinst builds and postrm removes
	}{
		{name: "into the image's directory", build: true},
		{name: "MKINITRD_NG_BOOT", useBoot: true, build: true},
		{name: "configure, remove", env: []string{"DEB_MAINT_PARAMS='configure' '" + testKVER + "'"},
			rmEnv: []string{"DEB_MAINT_PARAMS='remove' '" + testKVER + "'"}, build: true},
		{name: "not configure", env: []string{"DEB_MAINT_PARAMS='abort-upgrade' '1.0'"}},
		{name: "INITRD=No", env: []string{"INITRD=No"}},
		{name: "no manifest configured", env: []string{"MKINITRD_NG_MANIFEST="}, unconfig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unconfig {
				noDefaultManifest(t)
			}
			dir := t.TempDir()
			kernelDir := filepath.Join(dir, "boot")
			bootDir := kernelDir
			env := append(slices.Clone(base), tt.env...)
			if tt.useBoot {
				bootDir = filepath.Join(dir, "other-boot")
				must(t, os.Mkdir(bootDir, 0o755))
				env = append(env, "MKINITRD_NG_BOOT="+bootDir)
			}
			kernel := filepath.Join(kernelDir, "vmlinuz-"+testKVER)
			writeFiles(t, kernelDir, map[string]string{filepath.Base(kernel): "kernel"})
			image := filepath.Join(bootDir, "initrd.img-"+testKVER)

			r := runParts(t, env, "contrib/debian/postinst.d", testKVER, kernel)
			if r.code != 0 {
				t.Fatalf("run-parts postinst.d: exit %d\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "mkinitrd-ng") {
				t.Errorf("run-parts did not run the hook (is it executable?):\n%s", r.stderr)
			}
			if !tt.build {
				if exists(image) {
					t.Fatalf("postinst built %s", image)
				}
			} else {
				img.check(t, image)
				// Only the image: no temporary file left behind.
				want := []string{filepath.Base(image)}
				if bootDir == kernelDir {
					want = append(want, filepath.Base(kernel))
				}
				slices.Sort(want)
				if got := dirNames(t, bootDir); !slices.Equal(got, want) {
					t.Errorf("%s holds %q, want %q", bootDir, got, want)
				}
			}

			if !tt.build {
				// postrm must leave an image it did not build alone.
				must(t, os.WriteFile(image, []byte("another generator's"), 0o644))
			}
			r = runParts(t, append(env, tt.rmEnv...), "contrib/debian/postrm.d", testKVER, kernel)
			if r.code != 0 {
				t.Fatalf("run-parts postrm.d: exit %d\n%s", r.code, r.stderr)
			}
			if exists(image) == tt.build {
				t.Errorf("after postrm: %s exists: %v", image, exists(image))
			}
		})
	}
}

// TestDebianHookFailureKeepsImage: a failed build reports the error and
// leaves the previous image in place.
func TestDebianHookFailureKeepsImage(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.json")
	must(t, os.WriteFile(broken, []byte(`{"contents": [{"source": "/no/such/file"}]}`), 0o644))
	boot := filepath.Join(dir, "boot")
	writeFiles(t, boot, map[string]string{"vmlinuz-" + testKVER: "kernel", "initrd.img-" + testKVER: "previous"})
	env := []string{"MKINITRD_NG=" + exe, "MKINITRD_NG_MANIFEST=" + broken, "MKINITRD_NG_BOOT=", "INITRD=", "DEB_MAINT_PARAMS="}
	r := runParts(t, env, "contrib/debian/postinst.d", testKVER, filepath.Join(boot, "vmlinuz-"+testKVER))
	if r.code == 0 || !strings.Contains(r.stderr, "/no/such/file") {
		t.Fatalf("run-parts postinst.d: exit %d, want a failure naming /no/such/file:\n%s", r.code, r.stderr)
	}
	got, err := os.ReadFile(filepath.Join(boot, "initrd.img-"+testKVER))
	must(t, err)
	if string(got) != "previous" {
		t.Errorf("the previous image was replaced by %d bytes", len(got))
	}
	if got, want := dirNames(t, boot), []string{"initrd.img-" + testKVER, "vmlinuz-" + testKVER}; !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", boot, got, want)
	}
}

// TestMakeInstall installs into a DESTDIR and checks the file list (the
// shell completions included), the modes, and that the installed hooks
// call the installed binary.
func TestMakeInstall(t *testing.T) {
	tests := []struct {
		name   string
		prefix []string // PREFIX=... or nothing for the default
		bin    string
		man    string
	}{
		{"default prefix", nil, "usr/local/bin/mkinitrd-ng", "usr/local/share/man/man1/mkinitrd-ng.1"},
		{"PREFIX=/usr", []string{"PREFIX=/usr"}, "usr/bin/mkinitrd-ng", "usr/share/man/man1/mkinitrd-ng.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir()
			args := append([]string{"-C", "..", "--no-print-directory", "install", "DESTDIR=" + dest,
				"BIN=" + filepath.Join(t.TempDir(), "mkinitrd-ng")}, tt.prefix...)
			cmd := exec.Command("make", args...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make install: %v\n%s", err, out)
			}
			want := map[string]os.FileMode{
				tt.bin: 0o755,
				tt.man: 0o644,
				"usr/lib/kernel/install.d/50-mkinitrd-ng.install": 0o755,
				"etc/kernel/postinst.d/mkinitrd-ng":               0o755,
				"etc/kernel/postrm.d/mkinitrd-ng":                 0o755,
			}
			prefix := strings.TrimSuffix(tt.bin, "/bin/mkinitrd-ng")
			for _, p := range []string{"share/bash-completion/completions/mkinitrd-ng",
				"share/zsh/site-functions/_mkinitrd-ng", "share/fish/vendor_completions.d/mkinitrd-ng.fish"} {
				want[prefix+"/"+p] = 0o644
			}
			got := map[string]os.FileMode{}
			must(t, filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				fi, err := d.Info()
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(dest, p)
				got[rel] = fi.Mode()
				return nil
			}))
			for p, mode := range want {
				if m, ok := got[p]; !ok {
					t.Errorf("%s not installed", p)
				} else if m != mode {
					t.Errorf("%s: mode %v, want %v", p, m, mode)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("unexpected file %s installed", p)
				}
			}
			if r := runCmd(t, nil, nil, filepath.Join(dest, tt.bin), "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "mkinitrd-ng ") {
				t.Errorf("installed binary --version: exit %d, %q", r.code, r.stdout)
			}
			binPath := "/" + tt.bin
			for _, hook := range []string{"usr/lib/kernel/install.d/50-mkinitrd-ng.install", "etc/kernel/postinst.d/mkinitrd-ng"} {
				data, err := os.ReadFile(filepath.Join(dest, hook))
				must(t, err)
				if want := `"${MKINITRD_NG:-` + binPath + `}"`; !strings.Contains(string(data), want) {
					t.Errorf("%s does not default to the installed binary (%s)", hook, want)
				}
			}
		})
	}
}

// TestOutputDirectory: -o DIR writes DIR/initrd.img-VERSION, which needs
// --kernel-version; a version that is not one path component is refused.
func TestOutputDirectory(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(`{"contents": [{"target": "/etc/x", "text": "x\n"}]}`), 0o644))
	boot := filepath.Join(dir, "boot")
	must(t, os.Mkdir(boot, 0o755))
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
		want    []string // files in boot afterwards
	}{
		{"directory", []string{"-o", boot, "--kernel-version", testKVER}, 0, "", []string{"initrd.img-" + testKVER}},
		{"trailing slash", []string{"-o", boot + "/", "--kernel-version", "6.2"}, 0, "", []string{"initrd.img-6.2"}},
		{"no version", []string{"-o", boot}, 2, "--kernel-version is needed", nil},
		{"version with a slash", []string{"-o", boot, "--kernel-version", "../x"}, 2, "not a kernel version", nil},
		{"version ..", []string{"-o", boot, "--kernel-version", ".."}, 2, "not a kernel version", nil},
		{"missing directory", []string{"-o", filepath.Join(dir, "none") + "/", "--kernel-version", "1"}, 1, "none/initrd.img-1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range dirNames(t, boot) {
				must(t, os.Remove(filepath.Join(boot, n)))
			}
			r := run(t, nil, append([]string{"-m", m}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("exit %d, want %d with %q:\n%s", r.code, tt.code, tt.wantErr, r.stderr)
			}
			if got := dirNames(t, boot); !slices.Equal(got, tt.want) {
				t.Errorf("%s holds %q, want %q", boot, got, tt.want)
			}
		})
	}
}

// TestKernelInstallHostMode: with no manifest and host mode on,
// kernel-install add of Debian's kernel builds what `mkinitrd-ng host`
// proposes for it, and that initrd boots the kernel on a virtio ext4 disk
// like this machine's.
func TestKernelInstallHostMode(t *testing.T) {
	noDefaultManifest(t)
	ver := kernelVersion(t)
	switchFile := filepath.Join(t.TempDir(), "host")
	must(t, os.WriteFile(switchFile, nil, 0o644))
	k := newKernelInstall(t, "layout=bls\n", "MKINITRD_NG_MANIFEST=", "MKINITRD_NG_HOST="+switchFile)
	r := k.run(t, "--verbose", "add", ver, kernel(t))
	if r.code != 0 {
		t.Fatalf("kernel-install add: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	initrd := filepath.Join(k.boot, machineID, ver, "initrd")
	if !exists(initrd) {
		t.Fatalf("no %s:\n%s%s", initrd, r.stdout, r.stderr)
	}
	bootSystemdImage(t, t.TempDir(), initrd)
}

// TestDebianHookHostMode: with no manifest and host mode on, the Debian
// postinst hook builds the kernel's image from what `mkinitrd-ng host`
// proposes, with the switch file's flags.
func TestDebianHookHostMode(t *testing.T) {
	noDefaultManifest(t)
	ver := kernelVersion(t)
	dir := t.TempDir()
	switchFile := filepath.Join(dir, "host")
	must(t, os.WriteFile(switchFile, []byte("--generic\n"), 0o644))
	env := []string{"MKINITRD_NG=" + exe, "MKINITRD_NG_MANIFEST=", "MKINITRD_NG_HOST=" + switchFile,
		"MKINITRD_NG_BOOT=" + dir, "INITRD=", "DEB_MAINT_PARAMS="}
	r := runParts(t, env, "contrib/debian/postinst.d", ver, kernel(t))
	if r.code != 0 {
		t.Fatalf("run-parts postinst.d: exit %d\n%s", r.code, r.stderr)
	}
	ls := run(t, nil, "ls", filepath.Join(dir, "initrd.img-"+ver))
	for _, want := range []string{"/init", "nvme.ko", "xfs.ko"} {
		if !strings.Contains(ls.stdout, want) {
			t.Errorf("the generic host image lacks %s:\n%s", want, tail(ls.stdout, 20))
		}
	}
}
