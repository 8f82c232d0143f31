package resolve

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/elfdeps"
)

// privateLibs gives the tree two libraries in a directory no default
// search path holds: liba.so needs libb.so and has no RUNPATH, as
// libsystemd-core needs libsystemd-shared. With withProgram, /usr/bin/p
// loads both through its RUNPATH, as /usr/lib/systemd/systemd does.
func privateLibs(t *testing.T, withProgram bool) *tree {
	tr := newTree(t)
	tr.withLibc()
	tr.lib("/opt/priv/libb.so", "libb.so", "int b(void) { return 1; }\n")
	tr.lib("/opt/priv/liba.so", "liba.so", "int b(void);\nint a(void) { return b(); }\n", "-lb")
	if withProgram {
		tr.gcc("/usr/bin/p", "int a(void);\nint b(void);\nint main(void) { return a() + b(); }\n",
			"-la", "-lb", "-Wl,--enable-new-dtags,-rpath,/opt/priv")
	}
	return tr
}

// TestLoaderContext: a library copied as a file of its own is no error
// for a name that its own search path cannot find when a program of the
// closure loads it with that name resolved, as ld.so would; its reason
// names that program. With no such program the miss is still an error
// naming the library.
func TestLoaderContext(t *testing.T) {
	t.Run("provided", func(t *testing.T) {
		tr := privateLibs(t, true)
		c := tr.mustResolve(`{"contents": [{"source": "/opt/priv"}, {"source": "/usr/bin/p"}]}`)
		e, ok := c.Lookup("/opt/priv/liba.so")
		if !ok || !strings.Contains(e.Why, "its libb.so is /opt/priv/libb.so in the process of /usr/bin/p") {
			t.Errorf("/opt/priv/liba.so = %+v, want its reason to name the program that provides libb.so", e)
		}
		if len(c.Warnings) > 0 {
			t.Errorf("warnings: %q", c.Warnings)
		}
	})
	for _, tc := range []struct {
		name, manifest string
	}{
		{"directory member", `{"contents": [{"source": "/opt/priv"}]}`},
		{"source", `{"contents": [{"source": "/opt/priv/liba.so", "target": "/lib/liba.so"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := privateLibs(t, false)
			_, err := tr.resolve(tc.manifest)
			want := "libb.so: not found, needed by /opt/priv/liba.so"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "no program in the image loads /opt/priv/liba.so") {
				t.Fatalf("error = %v, want %q and that no program provides it", err, want)
			}
			c := tr.mustResolve(strings.Replace(tc.manifest, "{", `{"allowMissing": true, `, 1))
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], want) {
				t.Errorf("with allowMissing, warnings = %q", c.Warnings)
			}
		})
	}
}

// storePath is a store path of name, with a valid Nix hash.
func storePath(name string) string { return "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-" + name }

// storeTree gives the tree the host's libc at Debian's paths and a copy
// of it in a store, and a store program p whose interpreter is the store's
// and which needs libh.so; where reports where libh.so is: "host" in
// /usr/lib/x86_64-linux-gnu, "store" in a store path on p's RUNPATH.
func storeTree(t *testing.T, where string) *tree {
	tr := newTree(t)
	tr.withLibc()
	glibc := storePath("glibc") + "/lib/"
	for _, name := range []string{"libc.so.6", "ld-linux-x86-64.so.2"} {
		tr.copyHost("/usr/lib/x86_64-linux-gnu/" + name)
		data := readFile(t, tr.path("/usr/lib/x86_64-linux-gnu/"+name))
		tr.write(glibc+name, data, 0o755)
	}
	libDir := "/usr/lib/x86_64-linux-gnu"
	flags := []string{"-lh", "-Wl,--dynamic-linker=" + glibc + "ld-linux-x86-64.so.2"}
	if where == "store" {
		libDir = storePath("libh") + "/lib"
		flags = append(flags, "-Wl,--enable-new-dtags,-rpath,"+libDir)
	}
	tr.lib(libDir+"/libh.so", "libh.so", "int h(void) { return 2; }\n")
	tr.gcc(storePath("p")+"/bin/p", "int h(void);\nint main(void) { return h(); }\n", flags...)
	return tr
}

// TestStoreLoader: a program whose interpreter lies in the store finds
// its libraries through its RUNPATH and its interpreter's directory only:
// never the host's, even where the host has them.
func TestStoreLoader(t *testing.T) {
	manifest := `{"contents": [{"source": "` + storePath("p") + `/bin/p"}]}`
	c := storeTree(t, "store").mustResolve(manifest)
	sameList(t, paths(c), []string{storePath("p") + "/bin/p", storePath("libh") + "/lib/libh.so",
		storePath("glibc") + "/lib/libc.so.6", storePath("glibc") + "/lib/ld-linux-x86-64.so.2"})

	_, err := storeTree(t, "host").resolve(manifest)
	want := "libh.so: not found, needed by " + storePath("p") + "/bin/p (searched " + storePath("glibc") + "/lib)"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "searches no host directory") {
		t.Errorf("error = %v, want %q and that no host directory is searched", err, want)
	}
}

// TestNixWrappers: a store file NAME brings the .NAME-wrapped beside it,
// which its Nix wrapper runs, however it is reached; outside a store,
// nothing.
func TestNixWrappers(t *testing.T) {
	foo := storePath("foo") + "/bin/"
	env := storePath("env") + "/bin/"
	for _, tc := range []struct {
		name, manifest string
		want           []string
	}{
		{"source", `{"contents": [{"source": "` + foo + `foo"}]}`, []string{foo + "foo", foo + ".foo-wrapped"}},
		{"targeted", `{"contents": [{"source": "` + foo + `foo", "target": "/bin/foo"}]}`, []string{"/bin/foo", foo + ".foo-wrapped"}},
		{"through a bin env, list format", `[{"source": "` + env + `foo", "target": "/bin/foo"}]`,
			[]string{"/bin/foo -> " + env + "foo", env + "foo -> " + foo + "foo", foo + "foo", foo + ".foo-wrapped"}},
		{"outside a store", `{"contents": [{"source": "/usr/bin/bar"}]}`, []string{"/usr/bin/bar"}},
		{"not executable", `{"contents": [{"source": "` + foo + `data"}]}`, []string{foo + "data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			tr.write(foo+"foo", "wrapper", 0o755)
			tr.write(foo+".foo-wrapped", "program", 0o755)
			tr.write(foo+"data", "data", 0o644)
			tr.write(foo+".data-wrapped", "program", 0o755)
			tr.symlink(env+"foo", foo+"foo")
			tr.write("/usr/bin/bar", "wrapper", 0o755)
			tr.write("/usr/bin/.bar-wrapped", "program", 0o755)
			sameList(t, paths(tr.mustResolve(tc.manifest)), tc.want)
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestErrorsKeepIdentity: the errors Resolve joins are the originals, so
// errors.Is and errors.As reach them, and a library that cannot be parsed
// is reported beside a missing one.
func TestErrorsKeepIdentity(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	tr.lib("/usr/lib/x86_64-linux-gnu/libbad.so", "libbad.so", "int bad(void) { return 1; }\n")
	tr.lib("/usr/lib/x86_64-linux-gnu/libgone.so", "libgone.so", "int gone(void) { return 1; }\n")
	tr.gcc("/usr/bin/p", "int bad(void);\nint gone(void);\nint main(void) { return bad() + gone(); }\n", "-lbad", "-lgone")
	tr.write("/usr/lib/x86_64-linux-gnu/libbad.so", "\x7fELF\x02\x01\x01 truncated", 0o644)
	if err := os.Remove(tr.path("/usr/lib/x86_64-linux-gnu/libgone.so")); err != nil {
		t.Fatal(err)
	}
	_, err := tr.resolve(`{"contents": [{"source": "/usr/bin/p"}, {"source": "/usr/bin/absent"}]}`)
	var missing *elfdeps.MissingError
	if !errors.As(err, &missing) || missing.Soname != "libgone.so" {
		t.Errorf("errors.As finds no MissingError for libgone.so in %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) is false for %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "/lib/x86_64-linux-gnu/libbad.so, wanted as libbad.so by /usr/bin/p") ||
		!strings.Contains(err.Error(), "/usr/bin/absent (manifest contents[1] (/usr/bin/absent))") {
		t.Errorf("error = %v, want the unparsable library and the absent source named", err)
	}
}
