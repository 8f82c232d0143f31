package elfdeps

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// The fixture tree is built once per test run with gcc (compiling) and ld
// (linking: calling ld directly is twenty times faster than through the gcc
// driver), then shared read-only by the tests.
var (
	fxOnce sync.Once
	fxTree *fixtureTree
	fxErr  error
	fxDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fxDir != "" {
		os.RemoveAll(fxDir)
	}
	os.Exit(code)
}

// fixtureTree is a fake root holding gcc-built programs and libraries.
type fixtureTree struct {
	root  string // the fake root on the host
	build string // objects and link-only stubs, outside the root
	fs    *rootfs.FS
	l     *Loader
}

func (fx *fixtureTree) host(p string) string { return filepath.Join(fx.root, p) }

func fixtures(t testing.TB) *fixtureTree {
	t.Helper()
	fxOnce.Do(func() {
		fxDir, fxErr = os.MkdirTemp("", "elfdeps-fixtures-")
		if fxErr == nil {
			fxTree, fxErr = buildFixtures(fxDir)
		}
	})
	if fxErr != nil {
		t.Fatalf("building fixtures: %v", fxErr)
	}
	return fxTree
}

type builder struct {
	fx  *fixtureTree
	err error
}

func (b *builder) run(name string, args ...string) {
	if b.err != nil {
		return
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.err = fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (b *builder) mkdirFor(hostPath string) {
	if b.err == nil {
		b.err = os.MkdirAll(filepath.Dir(hostPath), 0o755)
	}
}

// write puts a file in the tree.
func (b *builder) write(p, content string) {
	h := b.fx.host(p)
	b.mkdirFor(h)
	if b.err == nil {
		b.err = os.WriteFile(h, []byte(content), 0o644)
	}
}

func (b *builder) symlink(p, target string) {
	h := b.fx.host(p)
	b.mkdirFor(h)
	if b.err == nil {
		b.err = os.Symlink(target, h)
	}
}

// cc compiles a C source to an object in the build directory.
func (b *builder) cc(name, src string, flags ...string) string {
	c := filepath.Join(b.fx.build, name+".c")
	o := filepath.Join(b.fx.build, name+".o")
	if b.err == nil {
		b.err = os.WriteFile(c, []byte(src), 0o644)
	}
	b.run("gcc", append(append([]string{"-c", "-O0", "-fPIC"}, flags...), "-o", o, c)...)
	return o
}

// lib links a 64-bit shared object at p inside the tree (or, for p not
// starting with "/", in the build directory). Deps are paths inside the
// tree or the build directory of libraries to depend on; extra goes to ld.
func (b *builder) lib(p, soname, obj string, deps []string, extra ...string) {
	b.link(p, append([]string{"-shared", "-soname", soname}, extra...), obj, deps)
}

// exe links a 64-bit PIE program at p with interpreter /opt/interp/ld-test.so.2.
func (b *builder) exe(p string, deps []string, extra ...string) {
	b.link(p, append([]string{"-pie", "--dynamic-linker", "/opt/interp/ld-test.so.2", "-e", "_start"}, extra...), b.fx.build+"/start.o", deps)
}

func (b *builder) link(p string, args []string, obj string, deps []string) {
	out := b.path(p)
	b.mkdirFor(out)
	args = append(args, "--no-as-needed", "-o", out, obj)
	for _, d := range deps {
		args = append(args, b.path(d))
	}
	b.run("ld", args...)
}

func (b *builder) path(p string) string {
	if strings.HasPrefix(p, "/") {
		return b.fx.host(p)
	}
	return filepath.Join(b.fx.build, p)
}

const funcSrc = "int f(void) { return 1; }\n"

// noteSrc returns C declaring one .note.dlopen note per JSON text, the way
// systemd's ELF_NOTE_DLOPEN macro does.
func noteSrc(jsons ...string) string {
	var b strings.Builder
	b.WriteString("#include <stdint.h>\n" + funcSrc)
	for i, j := range jsons {
		fmt.Fprintf(&b, `#define J%[1]d %[2]q
__attribute__((used, section(".note.dlopen"))) _Alignas(sizeof(uint32_t)) static const struct {
	struct { uint32_t n_namesz, n_descsz, n_type; } nhdr;
	char name[sizeof("FDO")];
	_Alignas(sizeof(uint32_t)) char dlopen_json[sizeof(J%[1]d)];
} note%[1]d = {
	.nhdr = { .n_namesz = sizeof("FDO"), .n_descsz = sizeof(J%[1]d), .n_type = 0x407c0c0a },
	.name = "FDO",
	.dlopen_json = J%[1]d,
};
`, i, j)
	}
	return b.String()
}

func buildFixtures(dir string) (*fixtureTree, error) {
	fx := &fixtureTree{root: filepath.Join(dir, "root"), build: filepath.Join(dir, "build")}
	b := &builder{fx: fx}
	b.err = os.MkdirAll(fx.build, 0o755)
	b.mkdirFor(fx.host("/x"))

	fo := b.cc("f", funcSrc)
	b.cc("start", "void _start(void) {}\n", "-fPIE")
	f32 := b.cc("f32", funcSrc, "-m32")

	// The interpreter lives outside every search directory: libc-test
	// finds it only because the program loaded it first (by soname).
	b.lib("/opt/interp/ld-test.so.2", "ld-test.so.2", fo, nil)
	b.lib("/usr/lib64/libc-test.so.1", "libc-test.so.1", fo, []string{"/opt/interp/ld-test.so.2"})
	b.lib("/usr/lib64/libD.so", "libD.so", fo, nil)

	// DT_RPATH is inherited: libR1 (no paths) finds libR2 through the
	// program's RPATH.
	b.lib("/opt/rp/lib/libR2.so", "libR2.so", fo, nil)
	b.lib("/opt/rp/lib/libR1.so", "libR1.so", fo, []string{"/opt/rp/lib/libR2.so"})
	b.exe("/opt/rp/bin/exe", []string{"/opt/rp/lib/libR1.so", "/usr/lib64/libc-test.so.1"}, "--disable-new-dtags", "-rpath", "/opt/rp/lib")

	// DT_RUNPATH is not: libQ2 is missing for libQ1.
	b.lib("/opt/run/lib/libQ2.so", "libQ2.so", fo, nil)
	b.lib("/opt/run/lib/libQ1.so", "libQ1.so", fo, []string{"/opt/run/lib/libQ2.so"})
	b.exe("/opt/run/bin/exe", []string{"/opt/run/lib/libQ1.so"}, "--enable-new-dtags", "-rpath", "/opt/run/lib")

	// systemd -> libsystemd-core -> libsystemd-shared: the core has no
	// RUNPATH and gets shared only because the program loaded it.
	b.lib("/usr/lib/private/systemd/libshared.so", "libshared.so", fo, nil)
	b.lib("/usr/lib/private/systemd/libcore.so", "libcore.so", fo, []string{"/usr/lib/private/systemd/libshared.so"})
	b.exe("/usr/lib/systemd/systemd", []string{"/usr/lib/private/systemd/libcore.so", "/usr/lib/private/systemd/libshared.so"}, "--enable-new-dtags", "-rpath", "/usr/lib/private/systemd")
	b.exe("/usr/lib/systemd/core-only", []string{"/usr/lib/private/systemd/libcore.so"}, "--enable-new-dtags", "-rpath", "/usr/lib/private/systemd")

	// $ORIGIN, ${ORIGIN}, a DT_NEEDED with a slash and a token, a program
	// reached through a symlink, a library in a symlinked directory.
	b.lib("/opt/orig/lib/priv/libP.so", "libP.so", fo, nil)
	b.lib("/opt/orig/lib/sub/libS.so", "$ORIGIN/sub/libS.so", fo, nil)
	b.lib("/opt/orig/lib/libO.so", "libO.so", fo, []string{"/opt/orig/lib/priv/libP.so", "/opt/orig/lib/sub/libS.so"}, "--enable-new-dtags", "-rpath", "${ORIGIN}/priv")
	b.exe("/opt/orig/bin/exe", []string{"/opt/orig/lib/libO.so"}, "--enable-new-dtags", "-rpath", "$ORIGIN/../lib")
	b.symlink("/usr/bin/orig", "../../opt/orig/bin/exe")
	b.lib("/opt/orig/lib/v/libV.so", "libV.so", fo, []string{"/opt/orig/lib/priv/libP.so"}, "--enable-new-dtags", "-rpath", "$ORIGIN/../priv")
	b.symlink("/opt/viadir", "orig/lib/v")
	b.exe("/opt/orig/bin/via", []string{"/opt/orig/lib/v/libV.so"}, "--enable-new-dtags", "-rpath", "/opt/viadir")

	// $LIB and $PLATFORM.
	b.lib("/opt/dst/lib64/libL.so", "libL.so", fo, nil)
	b.lib("/opt/dst/x86_64/libPL.so", "libPL.so", fo, nil)
	b.exe("/opt/dst/bin/exe", []string{"/opt/dst/lib64/libL.so", "/opt/dst/x86_64/libPL.so"}, "--enable-new-dtags", "-rpath", "/opt/dst/$LIB:/opt/dst/${PLATFORM}")

	// Candidates of the wrong class, not ELF, a directory: skipped.
	b.link("/opt/m32/a/libW.so.1", []string{"-m", "elf_i386", "-shared", "-soname", "libW.so.1"}, f32, nil)
	b.link("/opt/m32/a/libW32only.so", []string{"-m", "elf_i386", "-shared", "-soname", "libW32only.so"}, f32, nil)
	b.write("/opt/m32/b/libW.so.1", "INPUT(-lfoo)\n")
	b.mkdirFor(fx.host("/opt/m32/c/libW.so.1/x"))
	b.lib("/opt/m32/d/libW.so.1", "libW.so.1", fo, nil)
	b.lib("w32only.so", "libW32only.so", fo, nil)
	b.exe("/opt/m32/bin/exe", []string{"/opt/m32/d/libW.so.1", "w32only.so"}, "--enable-new-dtags", "-rpath", "/opt/m32/a:/opt/m32/b:/opt/m32/c:/opt/m32/d")

	// ld.so.conf with includes (a relative glob, a nested one, comments,
	// a hwcap line) and a decoy later in the search order.
	b.write("/etc/ld.so.conf", "# main\ninclude ld.so.conf.d/*.conf\n/opt/confdir # trailing\nhwcap 0 nosegneg\n")
	b.write("/etc/ld.so.conf.d/a.conf", "/opt/inc/\ninclude sub/*.conf\n")
	b.write("/etc/ld.so.conf.d/sub/n.conf", "/opt/nested\n/opt/inc\n")
	b.write("/etc/ld.so.conf.d/b.txt", "/opt/never\n")
	b.lib("/opt/inc/libC1.so", "libC1.so", fo, nil)
	b.lib("/opt/confdir/libC1.so", "libC1.so", fo, nil)
	b.lib("/opt/confdir/libC2.so", "libC2.so", fo, nil)
	b.lib("/opt/nested/libC3.so", "libC3.so", fo, nil)
	b.lib("/opt/never/libC4.so", "libC4.so", fo, nil)
	b.exe("/opt/conf/bin/exe", []string{"/opt/inc/libC1.so", "/opt/confdir/libC2.so", "/opt/nested/libC3.so", "/usr/lib64/libD.so"})
	b.exe("/opt/conf/bin/never", []string{"/opt/never/libC4.so"})

	// Several missing libraries; DF_1_NODEFLIB.
	b.lib("nope1.so", "libnope1.so", fo, nil)
	b.lib("nope2.so", "libnope2.so", fo, nil)
	b.exe("/opt/miss/bin/exe", []string{"nope1.so", "/usr/lib64/libD.so", "nope2.so"})
	// (ld sets DF_1_NODEFLIB with -z nodefaultlib, for shared objects.)
	b.lib("/opt/nodef/lib/libnodef.so", "libnodef.so", fo, []string{"/usr/lib64/libD.so"}, "-z", "nodefaultlib")
	b.exe("/opt/nodef/bin/exe", []string{"/opt/nodef/lib/libnodef.so"}, "--enable-new-dtags", "-rpath", "/opt/nodef/lib")

	// A DT_NEEDED that is a path; two names for one file.
	b.lib("/opt/abs/libabs.so", "/opt/abs/libabs.so", fo, nil)
	b.lib("/usr/lib64/libreal.so", "libreal.so", fo, nil)
	b.symlink("/usr/lib64/libalias.so", "libreal.so")
	b.lib("alias.so", "libalias.so", fo, nil)
	b.exe("/opt/misc/bin/exe", []string{"/opt/abs/libabs.so", "/usr/lib64/libreal.so", "alias.so"})

	// RPATH inherited through a loader that has RUNPATH (whose own RPATH
	// would not count), but not by that loader's own dependencies.
	b.lib("/opt/chain/x/libK.so", "libK.so", fo, nil)
	b.lib("/opt/chain/x/libK2.so", "libK2.so", fo, nil)
	b.lib("/opt/chain/y/libN.so", "libN.so", fo, []string{"/opt/chain/x/libK.so"})
	b.lib("/opt/chain/x/libM.so", "libM.so", fo, []string{"/opt/chain/y/libN.so", "/opt/chain/x/libK2.so"}, "--enable-new-dtags", "-rpath", "/opt/chain/y")
	b.exe("/opt/chain/bin/exe", []string{"/opt/chain/x/libM.so"}, "--disable-new-dtags", "-rpath", "/opt/chain/x")

	// dlopen notes. libcarrier looks its plugins up in $ORIGIN/plugins;
	// libdl-ctx sits only in the program's RUNPATH, where a dlopen from
	// libcarrier does not look.
	plug := "/opt/dl/lib/plugins/"
	for _, n := range []string{"dep", "rec", "sug", "nopri", "first", "second", "chain"} {
		b.lib(plug+"libdl-"+n+".so.1", "libdl-"+n+".so.1", fo, nil)
	}
	b.lib("/opt/dl/lib/libdl-ctx.so.1", "libdl-ctx.so.1", fo, nil)
	reqo := b.cc("req", noteSrc(`[{"soname":["libdl-chain.so.1"],"priority":"required"}]`))
	b.lib(plug+"libdl-req.so.1", "libdl-req.so.1", reqo, []string{plug + "libdl-dep.so.1"}, "--enable-new-dtags", "-rpath", "$ORIGIN")
	carriero := b.cc("carrier", noteSrc(
		`[{"soname":["libdl-req.so.1"],"feature":"req","description":"needed","priority":"required"},`+
			`{"soname":["libdl-rec-missing.so.9","libdl-rec.so.1"],"feature":"rec","priority":"recommended"}]`,
		`[{"soname":["libdl-sug.so.1"],"feature":"sug","priority":"suggested"}]`,
		`[{"soname":["libdl-nopri.so.1"],"feature":"nopri"},`+
			`{"soname":["libdl-first.so.1","libdl-second.so.1"],"feature":"first","priority":"recommended"},`+
			`{"soname":["libdl-gone.so.1"],"feature":"gone","priority":"suggested"},`+
			`{"soname":["libdl-ctx.so.1"],"feature":"ctx","priority":"suggested"}]`,
	))
	b.lib("/opt/dl/lib/libcarrier.so", "libcarrier.so", carriero, nil, "--enable-new-dtags", "-rpath", "$ORIGIN/plugins")
	b.exe("/opt/dl/bin/exe", []string{"/opt/dl/lib/libcarrier.so"}, "--enable-new-dtags", "-rpath", "/opt/dl/lib")
	carrier2o := b.cc("carrier2", noteSrc(`[{"soname":["libdl-absent.so.1"],"feature":"absent","priority":"required"}]`))
	b.lib("/opt/dl2/lib/libcarrier2.so", "libcarrier2.so", carrier2o, nil)
	b.exe("/opt/dl2/bin/exe", []string{"/opt/dl2/lib/libcarrier2.so"}, "--enable-new-dtags", "-rpath", "/opt/dl2/lib")

	if b.err != nil {
		return nil, b.err
	}
	var err error
	if fx.fs, err = rootfs.New(fx.root); err != nil {
		return nil, err
	}
	if fx.l, err = NewLoader(fx.fs); err != nil {
		return nil, err
	}
	return fx, nil
}
