package tests

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// This file assembles what NixOS hands make-initrd-ng for a systemd
// initrd (nixos/modules/system/boot/systemd/initrd.nix): systemd and the
// tools it runs, its units and a generated unit directory, a modules
// closure, a bin env, text files, a wrapped program, all as store paths,
// and the list manifest that links them into the initrd.

// nixPackage is a package of the fixture's store: programs copied from
// this host and symlinks, by their path inside the store path.
type nixPackage struct {
	name     string
	programs map[string]string // path in the package -> host program
	links    map[string]string // path in the package -> symlink text
}

// nixPackages are the packages whose programs the initrd runs.
var nixPackages = []nixPackage{
	{name: "systemd-252", programs: map[string]string{
		"lib/systemd/systemd":                                   "/usr/lib/systemd/systemd",
		"lib/systemd/systemd-journald":                          "/usr/lib/systemd/systemd-journald",
		"lib/systemd/systemd-modules-load":                      "/usr/lib/systemd/systemd-modules-load",
		"lib/systemd/systemd-fsck":                              "/usr/lib/systemd/systemd-fsck",
		"lib/systemd/systemd-shutdown":                          "/usr/lib/systemd/systemd-shutdown",
		"lib/systemd/systemd-sulogin-shell":                     "/usr/lib/systemd/systemd-sulogin-shell",
		"lib/systemd/systemd-sysctl":                            "/usr/lib/systemd/systemd-sysctl",
		"lib/systemd/system-generators/systemd-fstab-generator": "/usr/lib/systemd/system-generators/systemd-fstab-generator",
		"bin/systemctl":                                         "/usr/bin/systemctl",
		"bin/udevadm":                                           "/usr/bin/udevadm",
	}, links: map[string]string{
		// udevadm is udevd when called by this name. The link is
		// relative and leaves lib/systemd, the directory the manifest
		// copies.
		"lib/systemd/systemd-udevd": "../../bin/udevadm",
	}},
	{name: "util-linux-2.38.1-bin", programs: map[string]string{
		"bin/mount":  "/usr/bin/mount",
		"bin/umount": "/usr/bin/umount",
		"bin/fsck":   "/usr/sbin/fsck",
	}},
	{name: "e2fsprogs-1.47.0-bin", programs: map[string]string{
		"bin/e2fsck": "/usr/sbin/e2fsck",
	}, links: map[string]string{"bin/fsck.ext4": "e2fsck"}},
	{name: "kmod-30", programs: map[string]string{
		"bin/kmod": "/usr/bin/kmod",
	}, links: map[string]string{"bin/modprobe": "kmod"}},
}

// initrdUnits are the upstream units the generated unit directory links:
// the Debian example's closure (examples/systemd-initrd.json) and the
// shutdown units a failed boot powers off with, but, as in NixOS, not
// systemd-fsck-root.service, the root file system's, which in an initrd
// systemd-fstab-generator writes for /sysroot.
var initrdUnits = []string{
	"basic.target", "emergency.service", "emergency.target", "final.target",
	"initrd-cleanup.service", "initrd-fs.target", "initrd-parse-etc.service",
	"initrd-root-device.target", "initrd-root-fs.target", "initrd-switch-root.service",
	"initrd-switch-root.target", "initrd-udevadm-cleanup-db.service", "initrd-usr-fs.target",
	"initrd.target", "kmod-static-nodes.service", "local-fs-pre.target", "local-fs.target",
	"paths.target", "poweroff.target", "shutdown.target", "slices.target", "sockets.target",
	"swap.target", "sysinit.target", "systemd-fsck@.service",
	"systemd-journald-audit.socket", "systemd-journald-dev-log.socket",
	"systemd-journald.service", "systemd-journald.socket", "systemd-modules-load.service",
	"systemd-poweroff.service", "systemd-udev-trigger.service",
	"systemd-udevd-control.socket", "systemd-udevd-kernel.socket", "systemd-udevd.service",
	"timers.target", "umount.target",
}

// maskedUnits are masked in the generated unit directory, symlinks to
// /dev/null: Debian's fsckd, which NixOS does not ship, and a password
// agent an initrd without a wall does not need.
var maskedUnits = []string{"systemd-fsckd.service", "systemd-fsckd.socket", "systemd-ask-password-wall.path"}

// initrdModules are the modules the root disk needs, as
// boot.initrd.kernelModules names them.
var initrdModules = []string{"virtio_pci", "virtio_blk", "ext4", "crc32c"}

// initrdRules are the udev rules the Debian example copies.
var initrdRules = []string{"50-udev-default.rules", "60-block.rules",
	"60-persistent-storage.rules", "80-drivers.rules", "99-systemd.rules"}

// wrapperMarker is what the wrapped program prints when the wrapper
// started it.
const wrapperMarker = "NIXOS-WRAPPER-OK"

// nixosRelease is the initrd's os-release; systemd greets with its
// PRETTY_NAME.
const nixosRelease = "NAME=NixOS\nID=nixos\nVERSION_ID=\"25.05\"\nPRETTY_NAME=\"NixOS 25.05 (mkinitrd-ng test)\"\n"

// listEntry is one object of make-initrd-ng's list; a null target
// copies the source to its own path only.
type listEntry struct {
	Source string  `json:"source"`
	Target *string `json:"target"`
}

// nixosFixture is a NixOS-shaped store under root and the list manifest
// NixOS would write for it.
type nixosFixture struct {
	root     string
	manifest string
	entries  []listEntry
	// wrapped is the program only the wrapper names.
	wrapped string
}

// nixosBuilder assembles the fixture.
type nixosBuilder struct {
	*nixStore
	kver string
	// programs maps a program's name to its store path, for Exec= lines.
	programs map[string]string
	entries  []listEntry
}

// buildNixOSFixture makes the store under dir/nixos-root for the kernel
// kver and writes the list manifest to dir/initrd-contents.json.
func buildNixOSFixture(t *testing.T, dir, kver string) nixosFixture {
	t.Helper()
	b := &nixosBuilder{nixStore: newNixStore(t, filepath.Join(dir, "nixos-root")), kver: kver,
		programs: map[string]string{}}
	// systemd's core library finds its shared library in systemd's
	// context, as in systemd's own build: its RUNPATH does not name it.
	b.noRunpathFor["libsystemd-core-252.so"] = []string{"libsystemd-shared-252.so"}
	for _, p := range nixPackages {
		b.addPackage(p)
	}
	wrapper, wrapped := b.addWrapper()
	b.addLinks(b.addUnitDir(b.addUpstreamUnits(), wrapper), b.addModulesClosure(), b.addBinEnv())
	b.addTextFiles()
	b.addStorePaths(wrapper)
	b.addHostDecoy()
	b.addSandboxDev()
	b.seal()
	return nixosFixture{root: b.root, manifest: b.writeManifest(dir), entries: b.entries, wrapped: wrapped}
}

// addLinks adds the entries of initrd.nix's contents that name packages:
// each target becomes a symlink into the store.
func (b *nixosBuilder) addLinks(units, modules, binEnv string) {
	systemd := b.path("systemd-252")
	b.link(systemd+"/lib/systemd/systemd", "/init")
	b.link(units, "/etc/systemd/system")
	// Debian's systemd searches /etc/systemd/system-generators before
	// its compiled-in directory, as NixOS's /etc does.
	b.link(systemd+"/lib/systemd/system-generators/systemd-fstab-generator",
		"/etc/systemd/system-generators/systemd-fstab-generator")
	// Debian's systemd runs these by compiled-in paths where NixOS's
	// names its own store path: the generated fsck unit of /sysroot, and
	// the power-off of a failed boot.
	b.link(systemd+"/lib/systemd/systemd-fsck", "/lib/systemd/systemd-fsck")
	b.link(systemd+"/lib/systemd/systemd-shutdown", "/lib/systemd/systemd-shutdown")
	b.link(modules+"/lib/modules", "/lib/modules")
	b.link(binEnv+"/bin", "/bin")
	b.link(binEnv+"/sbin", "/sbin")
	b.link(b.path("udev-rules"), "/etc/udev/rules.d")
}

// addStorePaths adds the entries of initrd.nix's storePaths, copied to
// their own paths: systemd's tooling as one directory, which puts its
// private libraries in the closure as files of their own, and the
// programs units name.
func (b *nixosBuilder) addStorePaths(wrapper string) {
	b.storePath(b.path("systemd-252") + "/lib/systemd")
	b.storePath(b.programs["mount"])
	b.storePath(b.programs["umount"])
	b.storePath(wrapper)
}

// link adds a manifest entry: target becomes a symlink to source.
func (b *nixosBuilder) link(source, target string) {
	b.entries = append(b.entries, listEntry{Source: source, Target: &target})
}

// storePath adds a manifest entry copying source to its own path.
func (b *nixosBuilder) storePath(source string) {
	b.entries = append(b.entries, listEntry{Source: source})
}

// writeManifest writes the list as JSON and returns its path.
func (b *nixosBuilder) writeManifest(dir string) string {
	data, err := json.MarshalIndent(b.entries, "", " ")
	must(b.t, err)
	p := filepath.Join(dir, "initrd-contents.json")
	must(b.t, os.WriteFile(p, data, 0o644))
	return p
}

// addPackage copies a package's programs and symlinks into the store and
// records each program's store path by name.
func (b *nixosBuilder) addPackage(p nixPackage) {
	base := b.path(p.name)
	for _, rel := range sortedKeys(p.programs) {
		b.addProgram(p.programs[rel], base+"/"+rel)
		b.programs[path.Base(rel)] = base + "/" + rel
	}
	for _, rel := range sortedKeys(p.links) {
		b.symlink(base+"/"+rel, p.links[rel])
		b.programs[path.Base(rel)] = base + "/" + rel
	}
}

// addWrapper makes a package as makeBinaryWrapper leaves it: bin/hello a
// compiled program that sets a variable and execs bin/.hello-wrapped, the
// real program. It returns both store paths.
func (b *nixosBuilder) addWrapper() (wrapper, wrapped string) {
	pkg := b.path("hello-2.12.1")
	wrapper, wrapped = pkg+"/bin/hello", pkg+"/bin/.hello-wrapped"
	tmp := b.t.TempDir()
	b.addProgram(compileC(b.t, tmp, "wrapped", `#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	(void)argc;
	const char *by = getenv("HELLO_WRAPPED_BY");
	printf("hello: %s run by %s: `+wrapperMarker+`\n", argv[0], by ? by : "nobody");
	return by ? 0 : 1;
}
`), wrapped)
	b.addProgram(compileC(b.t, tmp, "wrapper", `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
	(void)argc;
	if (setenv("HELLO_WRAPPED_BY", "makeBinaryWrapper", 1) < 0) { perror("setenv"); return 127; }
	argv[0] = "`+wrapper+`";
	execv("`+wrapped+`", argv);
	perror("execv `+wrapped+`");
	return 127;
}
`), wrapper)
	return wrapper, wrapped
}

// compileC builds a C program with gcc in dir and returns its path.
func compileC(t *testing.T, dir, name, src string) string {
	t.Helper()
	c := filepath.Join(dir, name+".c")
	must(t, os.WriteFile(c, []byte(src), 0o644))
	out := filepath.Join(dir, name)
	mustRun(t, "gcc", "-O2", "-o", out, c)
	return out
}

// addUpstreamUnits copies the host's units into systemd's store path,
// where nixpkgs keeps them (example/systemd/system), with their Exec
// lines naming store paths, and returns that directory.
func (b *nixosBuilder) addUpstreamUnits() string {
	dir := b.path("systemd-252") + "/example/systemd/system"
	for _, u := range initrdUnits {
		data, err := os.ReadFile(filepath.Join("/usr/lib/systemd/system", u))
		must(b.t, err)
		b.write(dir+"/"+u, rewriteExec(b.t, u, string(data), b.programs), 0o644)
	}
	// The package's own wants, symlinks to ../UNIT, dangling where the
	// fixture leaves a unit out, as nixpkgs' copy of the full set is not.
	wants := "/usr/lib/systemd/system/sysinit.target.wants"
	names, err := os.ReadDir(wants)
	must(b.t, err)
	for _, n := range names {
		text, err := os.Readlink(filepath.Join(wants, n.Name()))
		must(b.t, err)
		b.symlink(dir+"/sysinit.target.wants/"+n.Name(), text)
	}
	return dir
}

// rewriteExec makes each Exec*= line of a unit name its program's store
// path. An optional command ("-" prefix) the store lacks is dropped, as
// NixOS's units have no plymouth; any other unknown command is an error
// of the fixture.
func rewriteExec(t *testing.T, unit, text string, programs map[string]string) string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(text, "\n") {
		key, value, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(key, "Exec") || value == "" {
			out = append(out, line)
			continue
		}
		prefix := value[:len(value)-len(strings.TrimLeft(value, "-@:+!|"))]
		cmd, args, _ := strings.Cut(value[len(prefix):], " ")
		store, ok := programs[path.Base(cmd)]
		switch {
		case ok:
			out = append(out, key+"="+prefix+strings.TrimSpace(store+" "+args))
		case strings.Contains(prefix, "-"):
		default:
			t.Fatalf("%s: no store path for %q", unit, cmd)
		}
	}
	return strings.Join(out, "\n")
}

// addUnitDir makes the unit directory NixOS generates and links as
// /etc/systemd/system: a symlink per upstream unit into systemd's store
// path, units and drop-ins of its own as store paths, masks, and .wants
// and .requires directories of relative symlinks.
func (b *nixosBuilder) addUnitDir(upstream, wrapper string) string {
	out := b.path("initrd-units")
	for _, u := range initrdUnits {
		b.symlink(out+"/"+u, upstream+"/"+u)
	}
	for _, u := range maskedUnits {
		b.symlink(out+"/"+u, "/dev/null")
	}
	// The initrd's default target, an alias as NixOS declares it.
	b.symlink(out+"/default.target", "initrd.target")
	hello := b.unit("initrd-hello.service", "[Unit]\nDescription=Greeting from a wrapped program\n"+
		"DefaultDependencies=no\nBefore=initrd.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"+
		"ExecStart="+wrapper+" initrd\nStandardOutput=journal+console\n")
	b.symlink(out+"/initrd-hello.service", hello)
	b.symlink(out+"/initrd.target.requires/initrd-hello.service", "../initrd-hello.service")
	// A failed boot powers off at once rather than wait for the test's
	// timeout.
	poweroff := b.unit("emergency.service", "[Service]\nExecStartPre=\nExecStart=\nExecStart="+
		b.programs["systemctl"]+" --force --force poweroff\n")
	b.symlink(out+"/emergency.service.d/overrides.conf", poweroff)
	b.addWants(out, upstream)
	return out
}

// unit writes a unit file of NixOS's own as the store path unit-NAME and
// returns the file's path.
func (b *nixosBuilder) unit(name, text string) string {
	p := b.path("unit-"+name) + "/" + name
	b.write(p, text, 0o444)
	return p
}

// addWants copies systemd's sysinit.target.wants, leaving out the links
// whose unit the directory lacks, as NixOS's generateUnits does, and adds
// the wants the initrd's own modules declare.
func (b *nixosBuilder) addWants(out, upstream string) {
	names, err := os.ReadDir(b.real(upstream + "/sysinit.target.wants"))
	must(b.t, err)
	for _, n := range names {
		if contains(initrdUnits, n.Name()) {
			b.symlink(out+"/sysinit.target.wants/"+n.Name(), "../"+n.Name())
		}
	}
	wanted := map[string][]string{
		"sysinit.target": {"systemd-udevd.service", "systemd-udev-trigger.service"},
		"sockets.target": {"systemd-journald.socket", "systemd-journald-dev-log.socket",
			"systemd-udevd-control.socket", "systemd-udevd-kernel.socket"},
	}
	for _, target := range sortedKeys(wanted) {
		for _, u := range wanted[target] {
			if _, err := os.Lstat(b.real(out + "/" + target + ".wants/" + u)); err != nil {
				b.symlink(out+"/"+target+".wants/"+u, "../"+u)
			}
		}
	}
}

// addModulesClosure makes the modules closure for initrdModules as
// makeModulesClosure does: the modules modprobe would insert, from this
// host's tree of the booted kernel, with the indexes depmod writes.
func (b *nixosBuilder) addModulesClosure() string {
	out := b.path("linux-" + b.kver + "-modules-shrunk")
	tree := "/lib/modules/" + b.kver
	dest := out + "/lib/modules/" + b.kver
	args := append([]string{"-S", b.kver, "--show-depends", "-a"}, initrdModules...)
	for _, line := range strings.Split(mustRun(b.t, "modprobe", args...), "\n") {
		ko, ok := strings.CutPrefix(strings.TrimSpace(line), "insmod ")
		if !ok {
			continue
		}
		rel, err := filepath.Rel(tree, ko)
		must(b.t, err)
		if _, err := os.Lstat(b.real(dest + "/" + rel)); err != nil {
			b.copyIn(ko, dest+"/"+rel, 0o444)
		}
	}
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		b.copyIn(tree+"/"+f, dest+"/"+f, 0o444)
	}
	mustRun(b.t, "depmod", "-b", b.real(out), b.kver)
	return out
}

// addBinEnv makes the bin env NixOS links as /bin and /sbin: symlinks to
// the programs of the other store paths, the same in both.
func (b *nixosBuilder) addBinEnv() string {
	out := b.path("initrd-bin-env")
	for _, name := range []string{"systemctl", "udevadm", "mount", "umount", "fsck",
		"e2fsck", "fsck.ext4", "kmod", "modprobe"} {
		b.symlink(out+"/bin/"+name, b.programs[name])
		b.symlink(out+"/sbin/"+name, b.programs[name])
	}
	return out
}

// addTextFiles adds the files NixOS writes with writeText, each a store
// path of its own linked into /etc, and the udev rules directory.
func (b *nixosBuilder) addTextFiles() {
	files := []struct{ name, target, text string }{
		{"initrd-release", "/etc/initrd-release", nixosRelease},
		{"system.conf", "/etc/systemd/system.conf", "[Manager]\nDefaultEnvironment=PATH=/bin:/sbin\n" +
			"ManagerEnvironment=PATH=/bin:/sbin\n"},
		{"nixos.conf", "/etc/modules-load.d/nixos.conf", strings.Join(initrdModules, "\n")},
		{"fstab", "/etc/fstab", "# The root file system comes from root= on the kernel command line.\n"},
		{"hostname", "/etc/hostname", "nixos-initrd\n"},
		{"group", "/etc/group", "root:x:0:\ntty:x:3:\ndisk:x:6:\nlp:x:7:\nkmem:x:9:\ndialout:x:27:\n" +
			"cdrom:x:24:\ntape:x:25:\nvideo:x:26:\naudio:x:17:\ninput:x:174:\nkvm:x:302:\n" +
			"render:x:303:\nsgx:x:304:\n"},
		{"keep", "/tmp/.keep", "systemd requires the /tmp mount point in the initrd cpio archive"},
	}
	for _, f := range files {
		p := b.path(f.name)
		b.write(p, f.text, 0o444)
		b.link(p, f.target)
	}
	// NixOS links one release file as both names.
	b.link(b.path("initrd-release"), "/etc/os-release")
	rules := b.path("udev-rules")
	for _, r := range initrdRules {
		data, err := os.ReadFile("/usr/lib/udev/rules.d/" + r)
		must(b.t, err)
		text := strings.ReplaceAll(string(data), "/lib/systemd/systemd-sysctl", b.programs["systemd-sysctl"])
		b.write(rules+"/"+r, text, 0o444)
	}
}

// addHostDecoy puts a build host's FHS libraries beside the store, as on
// a machine that is not NixOS: a store program must never resolve to
// them, so an image holding them is wrong.
func (b *nixosBuilder) addHostDecoy() {
	for _, soname := range []string{"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libmount.so.1"} {
		real, err := filepath.EvalSymlinks(hostLib(b.t, soname))
		must(b.t, err)
		b.copyIn(real, "/usr/lib/x86_64-linux-gnu/"+soname, 0o755)
	}
	b.symlink("/lib", "usr/lib")
	b.symlink("/lib64", "usr/lib64")
	b.symlink("/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
}

// addSandboxDev makes root/dev/null the character device the Nix build
// sandbox has, which every mask names. Making it needs root; without it
// the masks dangle in the root, and the test checks less.
func (b *nixosBuilder) addSandboxDev() {
	if os.Geteuid() != 0 {
		b.t.Log("not root: no /dev/null in the fixture's root")
		return
	}
	must(b.t, os.MkdirAll(b.real("/dev"), 0o755))
	must(b.t, syscall.Mknod(b.real("/dev/null"), syscall.S_IFCHR|0o666, 1<<8|3))
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
