package resolve

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

const mainNeeds = `void foo(void); void bar(void); int main(void) { foo(); bar(); return 0; }`

// dlopenNote is a C definition of a .note.dlopen ELF note, as systemd's
// ELF_NOTE_DLOPEN macro makes it.
func dlopenNote(json string) string {
	quoted := strings.ReplaceAll(strings.Join(strings.Fields(json), " "), `"`, `\"`)
	return `
#define J "` + quoted + `"
__attribute__((section(".note.dlopen"), aligned(4), used))
static const struct { unsigned namesz, descsz, type; char name[4]; char desc[(sizeof(J) + 3) & ~3]; }
note = { 4, sizeof(J), 0x407c0c0a, "FDO", J };
int main(void) { return 0; }
`
}

// TestELFClosure: the resolver finds exactly what ld.so would load, and
// nothing else, on fixtures compiled now.
func TestELFClosure(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	// RUNPATH with $ORIGIN; libfoo has no RUNPATH and finds libbar only
	// because the program loaded it (the systemd -> libsystemd-core case).
	tr.lib("/opt/app/lib/libbar.so.1.0", "libbar.so.1", `void bar(void) {}`)
	tr.symlink("/opt/app/lib/libbar.so.1", "libbar.so.1.0")
	tr.lib("/opt/app/lib/libfoo.so.1", "libfoo.so.1", `void bar(void); void foo(void) { bar(); }`, "-lbar")
	tr.gcc("/opt/app/bin/app", mainNeeds, "-lfoo", "-lbar", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
	tr.write("/opt/app/lib/libunused.so.1", "not needed", 0o644)
	// DT_RPATH is inherited by libraries without their own.
	tr.lib("/opt/rp/lib/libquux.so.1", "libquux.so.1", `void quux(void) {}`)
	tr.lib("/opt/rp/lib/libqux.so.1", "libqux.so.1", `void quux(void); void qux(void) { quux(); }`, "-lquux")
	tr.gcc("/opt/rp/bin/rp", `void qux(void); int main(void) { qux(); return 0; }`, "-lqux", "-Wl,--disable-new-dtags,-rpath,/opt/rp/lib")
	// A 32-bit library of the same soname earlier on the path is skipped.
	tr.lib("/opt/m64/libbaz.so.1", "libbaz.so.1", `void baz(void) {}`)
	tr.gcc("/opt/m/bin/m", `void baz(void); int main(void) { baz(); return 0; }`, "-lbaz", "-Wl,--enable-new-dtags,-rpath,/opt/m32:/opt/m64")
	compile32(t, tr, "/opt/m32/libbaz.so.1", "libbaz.so.1")
	// ld.so.conf with an include glob.
	tr.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n", 0o644)
	tr.write("/etc/ld.so.conf.d/conf.conf", "/opt/conf/lib\n", 0o644)
	tr.lib("/opt/conf/lib/libconf.so.1", "libconf.so.1", `void conf(void) {}`)
	tr.gcc("/opt/conf/bin/c", `void conf(void); int main(void) { conf(); return 0; }`, "-lconf")

	c := tr.mustResolve(`{"contents": [
		{"source": "/opt/app/bin/app"}, {"source": "/opt/rp/bin/rp"},
		{"source": "/opt/m/bin/m"}, {"source": "/opt/conf/bin/c"}]}`)
	want := append([]string{
		"/opt/app/bin/app", "/opt/app/lib/libfoo.so.1",
		"/opt/app/lib/libbar.so.1 -> libbar.so.1.0", "/opt/app/lib/libbar.so.1.0",
		"/opt/rp/bin/rp", "/opt/rp/lib/libqux.so.1", "/opt/rp/lib/libquux.so.1",
		"/opt/m/bin/m", "/opt/m64/libbaz.so.1",
		"/opt/conf/bin/c", "/opt/conf/lib/libconf.so.1",
	}, libcPaths...)
	sameList(t, paths(c), want)
	if e, ok := c.Lookup("/opt/app/lib/libfoo.so.1"); !ok || e.Why != "needed by /opt/app/bin/app" {
		t.Errorf("why of libfoo = %+v", e)
	}
	chain := strings.Join(c.Chain("/opt/app/lib/libbar.so.1.0"), " | ")
	if !strings.Contains(chain, "/opt/app/lib/libbar.so.1.0: needed by") || !strings.HasSuffix(chain, "/opt/app/bin/app: manifest contents[0] (/opt/app/bin/app)") {
		t.Errorf("chain of libbar = %s", chain)
	}
}

// compile32 builds a 32-bit shared library without gcc-multilib's
// headers: gcc -m32 -c and ld -m elf_i386.
func compile32(t *testing.T, tr *tree, p, soname string) {
	t.Helper()
	src := filepath.Join(tr.tmp, "l32.c")
	obj := filepath.Join(tr.tmp, "l32.o")
	if err := os.MkdirAll(filepath.Dir(tr.path(p)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("void baz(void) {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{"gcc", "-m32", "-fPIC", "-c", "-o", obj, src},
		{"ld", "-m", "elf_i386", "-shared", "-soname", soname, "-o", tr.path(p), obj},
	} {
		if b, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, b)
		}
	}
}

func TestDlopenNotes(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	for _, l := range []string{"libreq", "librec", "libsug", "libtpm", "libnone"} {
		tr.lib("/usr/lib/x86_64-linux-gnu/"+l+".so.1", l+".so.1", `void f(void) {}`)
	}
	tr.gcc("/usr/bin/prog", dlopenNote(`[
		{"soname": ["libreq.so.1"], "priority": "required"},
		{"soname": ["librec.so.1"], "priority": "recommended"},
		{"soname": ["libnone.so.1"]},
		{"soname": ["libsug.so.1"], "priority": "suggested"},
		{"soname": ["libtpm-missing.so.9", "libtpm.so.1"], "feature": "tpm", "priority": "suggested"}]`))
	base := append([]string{"/usr/bin/prog"}, libcPaths...)
	lib := func(n string) string { return "/usr/lib/x86_64-linux-gnu/" + n + ".so.1" }
	tests := []struct {
		name, dlopen string
		want         []string
	}{
		{"default", ``, []string{lib("libreq")}},
		{"none", `"dlopen": {"priority": "none"},`, nil},
		{"features alone", `"dlopen": {"features": ["tpm"]},`, []string{lib("libreq"), lib("libtpm")}},
		{"none but a feature", `"dlopen": {"priority": "none", "features": ["tpm"]},`, []string{lib("libtpm")}},
		{"required", `"dlopen": {"priority": "required"},`, []string{lib("libreq")}},
		{"recommended", `"dlopen": {"priority": "recommended"},`, []string{lib("libreq"), lib("librec"), lib("libnone")}},
		{"suggested", `"dlopen": {"priority": "suggested"},`, []string{lib("libreq"), lib("librec"), lib("libnone"), lib("libsug"), lib("libtpm")}},
		{"feature", `"dlopen": {"priority": "required", "features": ["tpm"]},`, []string{lib("libreq"), lib("libtpm")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tr.mustResolve(`{` + tt.dlopen + `"contents": [{"source": "/usr/bin/prog"}]}`)
			sameList(t, paths(c), append(append([]string{}, base...), tt.want...))
		})
	}
	// Per-entry settings join, whatever the order of the entries.
	a := `{"source": "/usr/bin/prog", "dlopen": {"priority": "required"}}`
	b := `{"source": "/usr/bin/prog", "target": "/init", "dlopen": {"features": ["tpm"]}}`
	one := paths(tr.mustResolve(`{"contents": [` + a + `,` + b + `]}`))
	two := paths(tr.mustResolve(`{"contents": [` + b + `,` + a + `]}`))
	sameList(t, one, append(append([]string{"/init"}, base...), lib("libreq"), lib("libtpm")))
	if strings.Join(one, " ") != strings.Join(two, " ") {
		t.Errorf("the order of the entries changed the closure:\n%v\n%v", one, two)
	}
}

func TestMissingLibraryIsAnError(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	tr.lib("/opt/lib/libgone.so.1", "libgone.so.1", `void gone(void) {}`)
	tr.lib("/opt/lib/libmid.so.1", "libmid.so.1", `void gone(void); void mid(void) { gone(); }`, "-lgone")
	tr.gcc("/usr/bin/p", `void mid(void); int main(void) { mid(); return 0; }`, "-lmid", "-Wl,--disable-new-dtags,-rpath,/opt/lib")
	if err := os.Remove(tr.path("/opt/lib/libgone.so.1")); err != nil {
		t.Fatal(err)
	}
	_, err := tr.resolve(`{"contents": [{"source": "/usr/bin/p"}]}`)
	if err == nil {
		t.Fatal("no error for a missing library")
	}
	for _, want := range []string{"libgone.so.1: not found", "/usr/bin/p -> /opt/lib/libmid.so.1", "searched /opt/lib, /lib/x86_64-linux-gnu"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	c := tr.mustResolve(`{"allowMissing": true, "contents": [{"source": "/usr/bin/p"}]}`)
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "libgone.so.1: not found") {
		t.Errorf("allowMissing warnings = %q", c.Warnings)
	}
}

// TestStoreReferences: a unit file names a program in another store path;
// the program and its libraries come in, nothing else of those paths.
func TestStoreReferences(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	const h1, h2, h3 = "0123456789abcdfghijklmnpqrsvwxyz", "zyxwvsrqpnmlkjihgfdcba9876543210", "00000000001111111111222222222233"
	unit := "/nix/store/" + h1 + "-unit/lib/systemd/system/foo.service"
	tool := "/nix/store/" + h2 + "-tool/bin/tool"
	libdir := "/nix/store/" + h3 + "-lib/lib"
	tr.lib(libdir+"/libx.so.1", "libx.so.1", `void x(void) {}`)
	tr.write(libdir+"/libunused.so.1", "unused", 0o644)
	tr.gcc(tool, `void x(void); int main(void) { x(); return 0; }`, "-lx", "-Wl,-rpath,"+libdir)
	tr.write("/nix/store/"+h2+"-tool/bin/other", "not referenced", 0o755)
	tr.write(unit, "[Service]\nExecStart="+tool+" --flag\nEnvironment=PATH=/nix/store/"+h2+"-tool/bin:/nix/store/"+h1+"-missing/bin\n", 0o644)
	tr.write("/nix/store/"+h1+"-unit/lib/systemd/system/unreferenced.service", "[Service]\n", 0o644)

	c := tr.mustResolve(`{"contents": [{"source": "` + unit + `"}]}`)
	want := append([]string{unit, tool, libdir + "/libx.so.1"}, libcPaths...)
	sameList(t, paths(c), want)
	if e, _ := c.Lookup(tool); e == nil || e.Why != "referenced by "+unit {
		t.Errorf("why of the tool = %+v", e)
	}
	// The referenced directory is there, empty: only what is named comes.
	if e, ok := c.Lookup("/nix/store/" + h2 + "-tool/bin"); !ok || e.Kind != Dir {
		t.Errorf("referenced directory missing: %+v", e)
	}
	// Named as a unit, the file is read by package units, and scanned
	// from what it read.
	bar := path.Dir(unit) + "/bar.service"
	other := "/nix/store/" + h2 + "-tool/bin/other"
	tr.write(bar, "[Unit]\nDefaultDependencies=no\n[Service]\nEnvironment=X="+other+"\n", 0o644)
	c = tr.mustResolve(`{"units": ["bar.service"], "unitDirs": ["` + path.Dir(unit) + `"]}`)
	if e, ok := c.Lookup(other); !ok || e.Why != "referenced by "+bar {
		t.Errorf("file named by a unit named in units: %+v", e)
	}
	// Another store dir is configurable; then /nix/store is not followed.
	c = tr.mustResolve(`{"storeDirs": ["/gnu/store"], "contents": [{"source": "` + unit + `"}]}`)
	sameList(t, paths(c), []string{unit})
}

// TestScanELF: with scanELF, a program (opened here, handed to the loader)
// and a library (parsed by the loader first) are both read whole for store
// paths, past their first 4 KiB, where gcc puts string constants.
func TestScanELF(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	const hp, hl = "0123456789abcdfghijklmnpqrsvwxyz", "zyxwvsrqpnmlkjihgfdcba9876543210"
	progData := "/nix/store/" + hp + "-data/p"
	libData := "/nix/store/" + hl + "-data/l"
	tr.write(progData, "p", 0o644)
	tr.write(libData, "l", 0o644)
	tr.lib("/usr/lib/x86_64-linux-gnu/libs.so.1", "libs.so.1", `const char *s(void) { return "`+libData+`"; }`)
	tr.gcc("/usr/bin/p", `const char *s(void); const char *d = "`+progData+`"; int main(void) { return s()[0] == d[0]; }`, "-ls")

	base := append([]string{"/usr/bin/p", "/usr/lib/x86_64-linux-gnu/libs.so.1"}, libcPaths...)
	sameList(t, paths(tr.mustResolve(`{"contents": [{"source": "/usr/bin/p"}]}`)), base)
	c := tr.mustResolve(`{"scanELF": true, "contents": [{"source": "/usr/bin/p"}]}`)
	sameList(t, paths(c), append([]string{progData, libData}, base...))
}

func TestShebang(t *testing.T) {
	tr := newTree(t)
	tr.write("/usr/bin/sh", "fake shell", 0o755)
	tr.write("/usr/bin/python3", "fake python", 0o755)
	tr.symlink("/bin", "usr/bin")
	tr.write("/usr/bin/env", "fake env", 0o755)
	tr.write("/usr/local/bin/a", "#!/bin/sh -e\necho a\n", 0o755)
	tr.write("/usr/local/bin/b", "#!/usr/bin/env -S python3 -u\nprint(1)\n", 0o755)
	c := tr.mustResolve(`{"contents": [{"source": "/usr/local/bin/a"}, {"source": "/usr/local/bin/b"},
		{"target": "/init", "text": "#!/bin/sh\nexec /sbin/init\n", "mode": "0755"}]}`)
	sameList(t, paths(c), []string{"/bin -> usr/bin", "/init", "/usr/bin/env", "/usr/bin/python3", "/usr/bin/sh",
		"/usr/local/bin/a", "/usr/local/bin/b"})
}

// TestHostileRoot: links that point out of the root, by absolute paths or
// by "..", resolve inside it; what is archived is the root's own file.
func TestHostileRoot(t *testing.T) {
	tr := newTree(t)
	tr.write("/etc/shadow", "the root's shadow, not the host's", 0o600)
	tr.symlink("/usr/bin/abs", "/etc/shadow")
	tr.symlink("/usr/bin/dots", "../../../../../../../../etc/shadow")
	tr.symlink("/usr/bin/loop1", "loop2")
	tr.symlink("/usr/bin/loop2", "loop1")
	tr.symlink("/usr/bin/dangling", "/nowhere/at/all")
	c := tr.mustResolve(`{"contents": [{"source": "/usr/bin/abs"}, {"source": "/usr/bin/dots"}, {"source": "/usr/bin/dangling"}]}`)
	sameList(t, paths(c), []string{"/etc/shadow", "/usr/bin/abs -> /etc/shadow",
		"/usr/bin/dangling -> /nowhere/at/all", "/usr/bin/dots -> ../../../../../../../../etc/shadow"})
	e, _ := c.Lookup("/etc/shadow")
	fsys, _ := rootfs.New(tr.root)
	defer fsys.Close()
	f, err := fsys.OpenNoFollow(e.Source)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	if !bytes.Equal(data, []byte("the root's shadow, not the host's")) {
		t.Errorf("read %q", data)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "dangling symlink") {
		t.Errorf("warnings = %q", c.Warnings)
	}
	_, err = tr.resolve(`{"contents": [{"source": "/usr/bin/loop1"}]}`)
	if err == nil || !strings.Contains(err.Error(), "/usr/bin/loop1 -> loop2") {
		t.Errorf("loop error = %v", err)
	}
}

func TestExplicitEntries(t *testing.T) {
	tr := newTree(t)
	tr.write("/etc/hosts", "127.0.0.1 localhost\n", 0o644)
	tr.write("/srv/a", "a", 0o640)
	c := tr.mustResolve(`{"contents": [
		{"target": "/etc/hosts", "text": "override\n"},
		{"source": "/srv/a", "target": "/x/y", "mode": "4711", "uid": 5},
		{"source": "/srv/a", "target": "/init", "link": true},
		{"target": "/dev/sda", "type": "block", "major": 8, "minor": 0},
		{"target": "/etc/hosts", "text": "override\n"}]}`)
	sameList(t, paths(c), []string{"/dev/sda", "/etc/hosts", "/init -> /srv/a", "/srv/a", "/x/y"})
	hosts, _ := c.Lookup("/etc/hosts")
	if string(hosts.Data) != "override\n" || hosts.Source != "" {
		t.Errorf("/etc/hosts = %+v", hosts)
	}
	xy, _ := c.Lookup("/x/y")
	if xy.Source != "/srv/a" || UnixPerm(xy.Mode) != 0o4711 || xy.UID != 5 {
		t.Errorf("/x/y = %+v (perm %o)", xy, UnixPerm(xy.Mode))
	}
	if srv, _ := c.Lookup("/srv/a"); UnixPerm(srv.Mode) != 0o640 {
		t.Errorf("/srv/a mode %o, want the source's 0640", UnixPerm(srv.Mode))
	}
	if d, _ := c.Lookup("/x"); d == nil || d.Kind != Dir || UnixPerm(d.Mode) != 0o755 {
		t.Errorf("parent /x = %+v", d)
	}
	_, err := tr.resolve(`{"contents": [{"target": "/a", "text": "1"}, {"target": "/a", "symlink": "b"}]}`)
	if err == nil || !strings.Contains(err.Error(), "contents[0] (/a) and contents[1] (/a) both define /a, differently") {
		t.Errorf("conflict error = %v", err)
	}
}

// TestHostSystemd: on this Debian host, the closure of systemd holds its
// interpreter, libsystemd-core and -shared, and every library ldd lists.
func TestHostSystemd(t *testing.T) {
	const systemd = "/usr/lib/systemd/systemd"
	out, err := exec.Command("ldd", systemd).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", systemd, err)
	}
	m, err := ParseManifest(strings.NewReader(`{"contents": [{"source": "`+systemd+`"}]}`), "m")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := rootfs.New("/")
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	c, err := Resolve(m, fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range c.Entries {
		have[e.Path] = true
	}
	// ldd names libraries by the paths ld.so.cache gives, through the
	// /lib symlink; the closure holds each once, at its real path.
	re := regexp.MustCompile(`(?m)^\s*(\S+)(?: => (\S+))? \(0x`)
	var missing []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		p := m[1]
		if m[2] != "" {
			p = m[2]
		}
		if p == "linux-vdso.so.1" {
			continue
		}
		real, _, err := fsys.Resolve(p)
		if err != nil || !have[real] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("ldd lists what the closure lacks: %v", missing)
	}
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/systemd/libsystemd-core-252.so",
		"/usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so", "/lib64", "/lib"} {
		if !have[p] {
			t.Errorf("closure lacks %s", p)
		}
	}
	if e, _ := c.Lookup("/lib"); e == nil || e.Kind != Symlink || e.LinkTarget != "usr/lib" {
		t.Errorf("/lib is not kept as the symlink usr/lib: %+v", e)
	}
}

// TestParentDirectoryReason: a directory added only because something lies
// below it is named after the first such path, in path order, whatever
// order the entries were found in (the manifest's own entries come last).
func TestParentDirectoryReason(t *testing.T) {
	for range 5 {
		tr := newTree(t)
		tr.write("/srv/z", "z", 0o644)
		c := tr.mustResolve(`{"contents": [{"source": "/srv/z", "target": "/d/z"},
			{"target": "/d/c", "text": "c"}, {"target": "/d/b", "text": "b"}, {"target": "/d/e/f", "text": "f"}]}`)
		d, ok := c.Lookup("/d")
		if !ok || d.Kind != Dir || d.Why != "parent directory of /d/b" || d.From != "/d/b" {
			t.Fatalf("/d = %+v, want the parent directory of /d/b", d)
		}
		if e, _ := c.Lookup("/d/e"); e == nil || e.Why != "parent directory of /d/e/f" {
			t.Fatalf("/d/e = %+v", e)
		}
	}
}
