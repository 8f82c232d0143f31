package resolve

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// tree is a source root built by a test.
type tree struct {
	t    *testing.T
	root string
	tmp  string // scratch space for sources and objects
}

func newTree(t *testing.T) *tree {
	t.Helper()
	return &tree{t: t, root: t.TempDir(), tmp: t.TempDir()}
}

func (tr *tree) path(p string) string { return filepath.Join(tr.root, p) }

func (tr *tree) write(p, content string, mode os.FileMode) {
	tr.t.Helper()
	full := tr.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) symlink(p, target string) {
	tr.t.Helper()
	full := tr.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		tr.t.Fatal(err)
	}
}

// copyHost copies a host file into the tree at the same path.
func (tr *tree) copyHost(p string) {
	tr.t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.write(p, string(data), 0o755)
}

// withLibc gives the tree the host's dynamic loader and libc, at the
// paths Debian uses, so that gcc's programs resolve inside it.
func (tr *tree) withLibc() {
	tr.copyHost("/usr/lib/x86_64-linux-gnu/libc.so.6")
	tr.copyHost("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	tr.symlink("/lib64", "usr/lib64")
	tr.symlink("/lib", "usr/lib")
	tr.symlink("/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
}

// gcc compiles C source into the tree at p with extra flags.
func (tr *tree) gcc(p, src string, flags ...string) {
	tr.t.Helper()
	name := strings.NewReplacer("/", "_", ".", "_").Replace(p)
	c := filepath.Join(tr.tmp, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		tr.t.Fatal(err)
	}
	out := tr.path(p)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	args := append([]string{"-o", out, c, "-L" + tr.tmp, "-Wl,-rpath-link," + tr.tmp}, flags...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		tr.t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
}

// lib compiles a shared library with a soname; it is also put in the
// scratch dir, for later links against it.
func (tr *tree) lib(p, soname, src string, flags ...string) {
	tr.t.Helper()
	tr.gcc(p, src, append([]string{"-shared", "-fPIC", "-Wl,-soname," + soname}, flags...)...)
	stem := strings.SplitN(soname, ".so", 2)[0]
	data, err := os.ReadFile(tr.path(p))
	if err != nil {
		tr.t.Fatal(err)
	}
	// -lNAME finds NAME.so; -rpath-link finds the soname.
	for _, name := range []string{stem + ".so", soname} {
		if err := os.WriteFile(filepath.Join(tr.tmp, name), data, 0o755); err != nil {
			tr.t.Fatal(err)
		}
	}
}

// resolve runs the resolver on a manifest text and returns the closure;
// origin, if given, is the manifest's file name.
func (tr *tree) resolve(manifest string, origin ...string) (*Closure, error) {
	tr.t.Helper()
	name := "test.json"
	if len(origin) > 0 {
		name = origin[0]
	}
	m, err := ParseManifest(strings.NewReader(manifest), name)
	if err != nil {
		tr.t.Fatal(err)
	}
	return Resolve(m, tr.fs(), Options{})
}

// fs opens the tree, closed when the test ends.
func (tr *tree) fs() *rootfs.FS {
	tr.t.Helper()
	fsys, err := rootfs.New(tr.root)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.t.Cleanup(func() { fsys.Close() })
	return fsys
}

func (tr *tree) mustResolve(manifest string) *Closure {
	tr.t.Helper()
	c, err := tr.resolve(manifest)
	if err != nil {
		tr.t.Fatalf("Resolve: %v", err)
	}
	return c
}

// paths lists a closure's entries as "kind path" lines, symlinks with
// their target, parent directories left out.
func paths(c *Closure) []string {
	var out []string
	for _, e := range c.Entries {
		switch e.Kind {
		case Dir:
			continue
		case Symlink:
			out = append(out, fmt.Sprintf("%s -> %s", e.Path, e.LinkTarget))
		default:
			out = append(out, e.Path)
		}
	}
	sort.Strings(out)
	return out
}

// libcPaths is what withLibc adds to every program's closure.
var libcPaths = []string{
	"/lib -> usr/lib",
	"/lib64 -> usr/lib64",
	"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
	"/usr/lib/x86_64-linux-gnu/libc.so.6",
	"/usr/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
}

func sameList(t *testing.T, got, want []string) {
	t.Helper()
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("closure:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
