package elfdeps

import (
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

func TestConfDirs(t *testing.T) {
	fx := fixtures(t)
	want := []string{"/opt/inc", "/opt/nested", "/opt/confdir"}
	if got := fx.l.ConfDirs(); !reflect.DeepEqual(got, want) {
		t.Errorf("ConfDirs = %q, want %q", got, want)
	}
}

// objLine renders an Object compactly for comparisons.
func objLine(o Object) string {
	s := o.Reason.String() + " " + o.Path
	if o.Name != "" && o.Name != o.Path {
		s += " as " + o.Name
	}
	if o.NeededBy != "" {
		s += " by " + o.NeededBy
	}
	return s
}

func objLines(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, objLine(o))
	}
	return out
}

// missing describes a *MissingError for comparisons.
type missing struct {
	soname   string
	chain    []string
	optional bool
}

func missingOf(t *testing.T, err error) []missing {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *ProcessError
	if !errors.As(err, &pe) {
		t.Fatalf("error is not a *ProcessError: %v", err)
	}
	var out []missing
	for _, e := range pe.Errs {
		var me *MissingError
		if !errors.As(e, &me) {
			t.Fatalf("unexpected error: %v", e)
		}
		if !errors.Is(e, fs.ErrNotExist) {
			t.Errorf("MissingError does not match fs.ErrNotExist: %v", e)
		}
		out = append(out, missing{me.Soname, me.Chain, me.Optional})
	}
	return out
}

const interpLine = "interpreter /opt/interp/ld-test.so.2 by "

func TestProcess(t *testing.T) {
	fx := fixtures(t)
	for _, tc := range []struct {
		name    string
		prog    string
		want    []string
		missing []missing
	}{
		{
			name: "RPATH inherited by dependencies",
			prog: "/opt/rp/bin/exe",
			want: []string{
				"program /opt/rp/bin/exe",
				interpLine + "/opt/rp/bin/exe",
				"needed /opt/rp/lib/libR1.so as libR1.so by /opt/rp/bin/exe",
				"needed /usr/lib64/libc-test.so.1 as libc-test.so.1 by /opt/rp/bin/exe",
				"needed /opt/rp/lib/libR2.so as libR2.so by /opt/rp/lib/libR1.so",
			},
		},
		{
			name: "RUNPATH not inherited",
			prog: "/opt/run/bin/exe",
			want: []string{
				"program /opt/run/bin/exe",
				interpLine + "/opt/run/bin/exe",
				"needed /opt/run/lib/libQ1.so as libQ1.so by /opt/run/bin/exe",
			},
			missing: []missing{{"libQ2.so", []string{"/opt/run/bin/exe", "/opt/run/lib/libQ1.so"}, false}},
		},
		{
			name: "already loaded by the program (systemd and libsystemd-core)",
			prog: "/usr/lib/systemd/systemd",
			want: []string{
				"program /usr/lib/systemd/systemd",
				interpLine + "/usr/lib/systemd/systemd",
				"needed /usr/lib/private/systemd/libcore.so as libcore.so by /usr/lib/systemd/systemd",
				"needed /usr/lib/private/systemd/libshared.so as libshared.so by /usr/lib/systemd/systemd",
			},
		},
		{
			name: "not loaded by the program",
			prog: "/usr/lib/systemd/core-only",
			want: []string{
				"program /usr/lib/systemd/core-only",
				interpLine + "/usr/lib/systemd/core-only",
				"needed /usr/lib/private/systemd/libcore.so as libcore.so by /usr/lib/systemd/core-only",
			},
			missing: []missing{{"libshared.so", []string{"/usr/lib/systemd/core-only", "/usr/lib/private/systemd/libcore.so"}, false}},
		},
		{
			name: "$ORIGIN through a symlinked program",
			prog: "/usr/bin/orig",
			want: []string{
				"program /usr/bin/orig",
				interpLine + "/usr/bin/orig",
				"needed /opt/orig/lib/libO.so as libO.so by /usr/bin/orig",
				"needed /opt/orig/lib/priv/libP.so as libP.so by /opt/orig/lib/libO.so",
				"needed /opt/orig/lib/sub/libS.so as $ORIGIN/sub/libS.so by /opt/orig/lib/libO.so",
			},
		},
		{
			name: "$ORIGIN/.. from a symlinked directory",
			prog: "/opt/orig/bin/via",
			want: []string{
				"program /opt/orig/bin/via",
				interpLine + "/opt/orig/bin/via",
				"needed /opt/viadir/libV.so as libV.so by /opt/orig/bin/via",
				"needed /opt/orig/lib/priv/libP.so as libP.so by /opt/viadir/libV.so",
			},
		},
		{
			name: "$LIB and $PLATFORM",
			prog: "/opt/dst/bin/exe",
			want: []string{
				"program /opt/dst/bin/exe",
				interpLine + "/opt/dst/bin/exe",
				"needed /opt/dst/lib64/libL.so as libL.so by /opt/dst/bin/exe",
				"needed /opt/dst/x86_64/libPL.so as libPL.so by /opt/dst/bin/exe",
			},
		},
		{
			name: "wrong class, not ELF, directory skipped",
			prog: "/opt/m32/bin/exe",
			want: []string{
				"program /opt/m32/bin/exe",
				interpLine + "/opt/m32/bin/exe",
				"needed /opt/m32/d/libW.so.1 as libW.so.1 by /opt/m32/bin/exe",
			},
			missing: []missing{{"libW32only.so", []string{"/opt/m32/bin/exe"}, false}},
		},
		{
			name: "ld.so.conf and default directories",
			prog: "/opt/conf/bin/exe",
			want: []string{
				"program /opt/conf/bin/exe",
				interpLine + "/opt/conf/bin/exe",
				"needed /opt/inc/libC1.so as libC1.so by /opt/conf/bin/exe",
				"needed /opt/confdir/libC2.so as libC2.so by /opt/conf/bin/exe",
				"needed /opt/nested/libC3.so as libC3.so by /opt/conf/bin/exe",
				"needed /usr/lib64/libD.so as libD.so by /opt/conf/bin/exe",
			},
		},
		{
			name: "file not matched by the include glob",
			prog: "/opt/conf/bin/never",
			want: []string{
				"program /opt/conf/bin/never",
				interpLine + "/opt/conf/bin/never",
			},
			missing: []missing{{"libC4.so", []string{"/opt/conf/bin/never"}, false}},
		},
		{
			name: "all missing libraries reported",
			prog: "/opt/miss/bin/exe",
			want: []string{
				"program /opt/miss/bin/exe",
				interpLine + "/opt/miss/bin/exe",
				"needed /usr/lib64/libD.so as libD.so by /opt/miss/bin/exe",
			},
			missing: []missing{
				{"libnope1.so", []string{"/opt/miss/bin/exe"}, false},
				{"libnope2.so", []string{"/opt/miss/bin/exe"}, false},
			},
		},
		{
			name: "DF_1_NODEFLIB",
			prog: "/opt/nodef/bin/exe",
			want: []string{
				"program /opt/nodef/bin/exe",
				interpLine + "/opt/nodef/bin/exe",
				"needed /opt/nodef/lib/libnodef.so as libnodef.so by /opt/nodef/bin/exe",
			},
			missing: []missing{{"libD.so", []string{"/opt/nodef/bin/exe", "/opt/nodef/lib/libnodef.so"}, false}},
		},
		{
			name: "path in DT_NEEDED, two names for one file",
			prog: "/opt/misc/bin/exe",
			want: []string{
				"program /opt/misc/bin/exe",
				interpLine + "/opt/misc/bin/exe",
				"needed /opt/abs/libabs.so by /opt/misc/bin/exe",
				"needed /usr/lib64/libreal.so as libreal.so by /opt/misc/bin/exe",
			},
		},
		{
			name: "RPATH through a RUNPATH loader",
			prog: "/opt/chain/bin/exe",
			want: []string{
				"program /opt/chain/bin/exe",
				interpLine + "/opt/chain/bin/exe",
				"needed /opt/chain/x/libM.so as libM.so by /opt/chain/bin/exe",
				"needed /opt/chain/y/libN.so as libN.so by /opt/chain/x/libM.so",
				"needed /opt/chain/x/libK.so as libK.so by /opt/chain/y/libN.so",
			},
			missing: []missing{{"libK2.so", []string{"/opt/chain/bin/exe", "/opt/chain/x/libM.so"}, false}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := fx.l.Process(tc.prog, DlopenPolicy{})
			if got := objLines(objs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("objects:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			if got := missingOf(t, err); !reflect.DeepEqual(got, tc.missing) {
				t.Errorf("missing = %+v, want %+v (err: %v)", got, tc.missing, err)
			}
		})
	}
}

// TestMissingErrorDetails checks the searched directories and the skipped
// candidates a MissingError carries, and its message.
func TestMissingErrorDetails(t *testing.T) {
	fx := fixtures(t)
	defaults := []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	conf := []string{"/opt/inc", "/opt/nested", "/opt/confdir"}
	for _, tc := range []struct {
		prog, soname string
		searched     []string
		skipped      []string
		msg          []string
	}{
		{
			prog: "/opt/run/bin/exe", soname: "libQ2.so",
			searched: append(slices.Clone(conf), defaults...),
			msg:      []string{"libQ2.so: not found, needed by /opt/run/bin/exe -> /opt/run/lib/libQ1.so (searched /opt/inc, "},
		},
		{
			prog: "/opt/m32/bin/exe", soname: "libW32only.so",
			searched: append([]string{"/opt/m32/a", "/opt/m32/b", "/opt/m32/c", "/opt/m32/d"}, append(slices.Clone(conf), defaults...)...),
			skipped:  []string{"/opt/m32/a/libW32only.so (ELFCLASS32)"},
			msg:      []string{"skipped /opt/m32/a/libW32only.so (ELFCLASS32)"},
		},
		{
			prog: "/opt/nodef/bin/exe", soname: "libD.so",
			searched: conf,
		},
		{
			prog: "/opt/chain/bin/exe", soname: "libK2.so",
			// libM has a RUNPATH: no RPATH of its own or of its loaders.
			searched: append([]string{"/opt/chain/y"}, append(slices.Clone(conf), defaults...)...),
		},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			_, err := fx.l.Process(tc.prog, DlopenPolicy{})
			var me *MissingError
			if !errors.As(err, &me) {
				t.Fatalf("no MissingError: %v", err)
			}
			if me.Soname != tc.soname {
				t.Errorf("Soname = %q, want %q", me.Soname, tc.soname)
			}
			if !reflect.DeepEqual(me.Searched, tc.searched) {
				t.Errorf("Searched = %q\nwant %q", me.Searched, tc.searched)
			}
			if !reflect.DeepEqual(me.Skipped, tc.skipped) {
				t.Errorf("Skipped = %q, want %q", me.Skipped, tc.skipped)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err, m)
				}
			}
		})
	}
}

// TestSkippedCandidates checks the rejection reasons for a name whose
// candidates are of the wrong class, not ELF and a directory.
func TestSkippedCandidates(t *testing.T) {
	fx := fixtures(t)
	objs, err := fx.l.Process("/opt/m32/bin/exe", DlopenPolicy{})
	if err == nil || len(objs) != 3 {
		t.Fatalf("objs %v, err %v", objLines(objs), err)
	}
	root := &obj{path: "/opt/m32/bin/exe"}
	root.file, _ = fx.l.File(root.path)
	pr := &process{l: fx.l, key: archKey{root.file.Class, root.file.Data, root.file.Machine}, names: map[string]*obj{}, ids: map[fileID]*obj{}}
	pr.arch = fx.l.arch(pr.key)
	res := pr.find(root, "libW.so.1")
	if res.o == nil || res.o.path != "/opt/m32/d/libW.so.1" {
		t.Fatalf("found %+v", res.o)
	}
	want := []string{
		"/opt/m32/a/libW.so.1 (ELFCLASS32)",
		"/opt/m32/b/libW.so.1 (not ELF)",
		"/opt/m32/c/libW.so.1 (elfdeps: not an ELF file (directory))",
	}
	if !reflect.DeepEqual(res.skipped, want) {
		t.Errorf("skipped = %q, want %q", res.skipped, want)
	}
}

func TestDlopenPolicy(t *testing.T) {
	fx := fixtures(t)
	base := []string{
		"program /opt/dl/bin/exe",
		interpLine + "/opt/dl/bin/exe",
		"needed /opt/dl/lib/libcarrier.so as libcarrier.so by /opt/dl/bin/exe",
	}
	const p = "/opt/dl/lib/plugins/"
	const by = " by /opt/dl/lib/libcarrier.so"
	req := []string{
		"dlopen note " + p + "libdl-req.so.1 as libdl-req.so.1" + by,
		"needed " + p + "libdl-dep.so.1 as libdl-dep.so.1 by " + p + "libdl-req.so.1",
	}
	chain := "dlopen note " + p + "libdl-chain.so.1 as libdl-chain.so.1 by " + p + "libdl-req.so.1"
	rec := "dlopen note " + p + "libdl-rec.so.1 as libdl-rec.so.1" + by
	sug := "dlopen note " + p + "libdl-sug.so.1 as libdl-sug.so.1" + by
	nopri := "dlopen note " + p + "libdl-nopri.so.1 as libdl-nopri.so.1" + by
	first := "dlopen note " + p + "libdl-first.so.1 as libdl-first.so.1" + by
	carrierChain := []string{"/opt/dl/bin/exe", "/opt/dl/lib/libcarrier.so"}
	cat := func(parts ...any) []string {
		out := slices.Clone(base)
		for _, p := range parts {
			switch p := p.(type) {
			case string:
				out = append(out, p)
			case []string:
				out = append(out, p...)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		policy  DlopenPolicy
		want    []string
		missing []missing
	}{
		{"zero policy", DlopenPolicy{}, base, nil},
		// The notes of libdl-req (itself dlopened) are read too.
		{"required", DlopenPolicy{Priority: PriorityRequired}, cat(req, chain), nil},
		{"recommended", DlopenPolicy{Priority: PriorityRecommended}, cat(req, rec, nopri, first, chain), nil},
		{"suggested", DlopenPolicy{Priority: PrioritySuggested}, cat(req, rec, sug, nopri, first, chain),
			[]missing{{"libdl-gone.so.1", carrierChain, true}, {"libdl-ctx.so.1", carrierChain, true}}},
		{"feature only", DlopenPolicy{Features: []string{"sug"}}, cat(sug), nil},
		{"features and threshold", DlopenPolicy{Priority: PriorityRequired, Features: []string{"nopri", "nosuch"}}, cat(req, nopri, chain), nil},
		{"listed feature missing is an error", DlopenPolicy{Features: []string{"gone"}}, base,
			[]missing{{"libdl-gone.so.1", carrierChain, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := fx.l.Process("/opt/dl/bin/exe", tc.policy)
			if got := objLines(objs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("objects:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			if got := missingOf(t, err); !reflect.DeepEqual(got, tc.missing) {
				t.Errorf("missing = %+v, want %+v (err: %v)", got, tc.missing, err)
			}
			for _, o := range objs {
				if o.Reason == ReasonDlopen && o.Feature == "" && !strings.Contains(o.Path, "chain") {
					t.Errorf("dlopen object without feature: %+v", o)
				}
			}
		})
	}

	t.Run("required entry missing", func(t *testing.T) {
		_, err := fx.l.Process("/opt/dl2/bin/exe", DlopenPolicy{Priority: PriorityRequired})
		got := missingOf(t, err)
		want := []missing{{"libdl-absent.so.1", []string{"/opt/dl2/bin/exe", "/opt/dl2/lib/libcarrier2.so"}, false}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("missing = %+v, want %+v", got, want)
		}
		var me *MissingError
		errors.As(err, &me)
		for _, s := range []string{"libdl-absent.so.1", "dlopen note", "priority required", `feature "absent"`, "/opt/dl2/lib/libcarrier2.so"} {
			if !strings.Contains(me.Error(), s) {
				t.Errorf("message %q lacks %q", me.Error(), s)
			}
		}
	})
	t.Run("alternatives in a missing entry", func(t *testing.T) {
		_, err := fx.l.Process("/opt/dl/bin/exe", DlopenPolicy{Features: []string{"gone"}})
		var me *MissingError
		if !errors.As(err, &me) || me.Reason != ReasonDlopen || me.Feature != "gone" || me.Priority != PrioritySuggested {
			t.Fatalf("err = %#v", err)
		}
		if !slices.Contains(me.Searched, "/opt/dl/lib/plugins") || slices.Contains(me.Searched, "/opt/dl/lib") {
			t.Errorf("searched %q: want the carrier's RUNPATH, not the program's", me.Searched)
		}
	})
	t.Run("invalid policy", func(t *testing.T) {
		if _, err := fx.l.Process("/opt/dl/bin/exe", DlopenPolicy{Priority: PriorityUnknown}); err == nil {
			t.Error("no error for a threshold past suggested")
		}
	})
}

// TestBadFiles checks errors about files that exist but are unusable.
func TestBadFiles(t *testing.T) {
	fx := fixtures(t)
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	good, err := os.ReadFile(fx.host("/opt/rp/bin/exe"))
	must(err)
	lib, err := os.ReadFile(fx.host("/opt/rp/lib/libR2.so"))
	must(err)
	must(os.MkdirAll(filepath.Join(dir, "usr/lib64"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin/exe"), good, 0o755))
	// libR1.so is truncated: the ELF magic is there, the rest is not.
	must(os.WriteFile(filepath.Join(dir, "usr/lib64/libR1.so"), lib[:200], 0o644))
	must(os.WriteFile(filepath.Join(dir, "bin/garbage"), append([]byte("\x7fELF"), make([]byte, 60)...), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin/script"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin/both"), crafted{
		needed:  []string{"libR2.so"},
		rpath:   strp("/rpath"),
		runpath: strp("/runpath"),
	}.bytes(), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin/static"), crafted{typ: elf.ET_EXEC}.bytes(), 0o755))
	must(os.WriteFile(filepath.Join(dir, "usr/lib64/libexec.so"), crafted{typ: elf.ET_EXEC, soname: "libexec.so"}.bytes(), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin/filters"), crafted{
		needed: []string{"libexec.so"},
		filter: []string{"libfilter.so"},
		aux:    []string{"libaux.so", "libaux2.so"},
	}.bytes(), 0o755))
	must(os.WriteFile(filepath.Join(dir, "usr/lib64/libfilter.so"), crafted{soname: "libfilter.so"}.bytes(), 0o644))
	must(os.WriteFile(filepath.Join(dir, "usr/lib64/libaux2.so"), crafted{soname: "libaux2.so"}.bytes(), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "rpath"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "runpath"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "rpath/libR2.so"), lib, 0o644))

	fsys, err := rootfs.New(dir)
	must(err)
	defer fsys.Close()
	l, err := NewLoader(fsys)
	must(err)

	if _, err := l.File("/bin/script"); !errors.Is(err, ErrNotELF) {
		t.Errorf("File(script) = %v, want ErrNotELF", err)
	}
	if _, err := l.File("/bin"); !errors.Is(err, ErrNotELF) {
		t.Errorf("File(dir) = %v, want ErrNotELF", err)
	}
	if _, err := l.File("/nonexistent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("File(nonexistent) = %v, want ErrNotExist", err)
	}
	_, err = l.File("/bin/garbage")
	if err == nil || errors.Is(err, ErrNotELF) || !strings.Contains(err.Error(), "/bin/garbage") {
		t.Errorf("File(garbage) = %v, want an error naming the file", err)
	}
	if _, err := l.Process("/bin/script", DlopenPolicy{}); !errors.Is(err, ErrNotELF) {
		t.Errorf("Process(script) = %v, want ErrNotELF", err)
	}
	if _, err := l.Process("/bin/garbage", DlopenPolicy{}); err == nil || !strings.Contains(err.Error(), "/bin/garbage") {
		t.Errorf("Process(garbage) = %v", err)
	}

	// A truncated candidate stops the search with an error naming it.
	objs, err := l.Process("/bin/exe", DlopenPolicy{})
	if err == nil || !strings.Contains(err.Error(), "/usr/lib64/libR1.so") {
		t.Fatalf("err = %v, want one naming the truncated library", err)
	}
	var me *MissingError
	for _, e := range err.(*ProcessError).Errs {
		if errors.As(e, &me) && me.Soname == "libR1.so" {
			t.Errorf("truncated library reported as missing: %v", e)
		}
	}
	// The interpreter is missing in this tree, libc-test too.
	if !strings.Contains(err.Error(), "/opt/interp/ld-test.so.2: not found, interpreter of /bin/exe") {
		t.Errorf("err = %v, want the missing interpreter", err)
	}
	if len(objs) != 1 || objs[0].Reason != ReasonProgram {
		t.Errorf("objs = %v", objLines(objs))
	}

	// A program without dependencies is the only object of its process.
	objs, err = l.Process("/bin/static", DlopenPolicy{})
	if err != nil || len(objs) != 1 || objs[0].Path != "/bin/static" {
		t.Errorf("static: objs %v, err %v", objLines(objs), err)
	}

	// ET_EXEC candidates are skipped; DT_FILTER and DT_AUXILIARY filtees
	// are loaded, a missing auxiliary one is only a warning.
	objs, err = l.Process("/bin/filters", DlopenPolicy{})
	wantObjs := []string{
		"program /bin/filters",
		"needed /usr/lib64/libfilter.so as libfilter.so by /bin/filters",
		"auxiliary /usr/lib64/libaux2.so as libaux2.so by /bin/filters",
	}
	if got := objLines(objs); !reflect.DeepEqual(got, wantObjs) {
		t.Errorf("filters: objs %q, want %q", got, wantObjs)
	}
	if got, want := missingOf(t, err), []missing{{"libexec.so", []string{"/bin/filters"}, false}, {"libaux.so", []string{"/bin/filters"}, true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("filters: missing %+v, want %+v", got, want)
	}
	if !strings.Contains(err.Error(), "skipped /usr/lib64/libexec.so (ET_EXEC, not a shared object)") {
		t.Errorf("filters: %v", err)
	}

	// With both tags, DT_RPATH is ignored.
	f, err := l.File("/bin/both")
	must(err)
	if f.RPath == nil || f.RunPath == nil {
		t.Fatalf("crafted file lost a tag: %+v", f)
	}
	_, err = l.Process("/bin/both", DlopenPolicy{})
	if !errors.As(err, &me) || me.Soname != "libR2.so" || slices.Contains(me.Searched, "/rpath") || me.Searched[0] != "/runpath" {
		t.Errorf("err = %v, want libR2.so missing with /runpath searched, not /rpath", err)
	}
}

// TestMultiarchLib checks $LIB and the default directories in a tree laid
// out the Debian way.
func TestMultiarchLib(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "usr/lib/x86_64-linux-gnu"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(dir, "lib")); err != nil {
		t.Fatal(err)
	}
	fsys, err := rootfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	l, err := NewLoader(fsys)
	if err != nil {
		t.Fatal(err)
	}
	fx := fixtures(t)
	f, err := fx.l.File("/opt/dst/bin/exe")
	if err != nil {
		t.Fatal(err)
	}
	a := l.arch(archKey{f.Class, f.Data, f.Machine})
	if a.lib != "lib/x86_64-linux-gnu" || a.platform != "x86_64" {
		t.Errorf("$LIB = %q, $PLATFORM = %q", a.lib, a.platform)
	}
	if a32 := l.arch(archKey{1, 1, 3}); a32.lib != "lib" || a32.platform != "i686" || slices.Contains(a32.defaults, "/lib64") {
		t.Errorf("i386: %+v", a32)
	}
	if a := fx.l.arch(archKey{f.Class, f.Data, f.Machine}); a.lib != "lib64" {
		t.Errorf("$LIB without multiarch dirs = %q", a.lib)
	}
}

// TestConcurrent runs the same programs from many goroutines against one
// Loader (run with -race) and expects the sequential results.
func TestConcurrent(t *testing.T) {
	fx := fixtures(t)
	progs := []string{"/opt/rp/bin/exe", "/usr/lib/systemd/systemd", "/opt/dl/bin/exe", "/opt/chain/bin/exe", "/usr/bin/orig", "/opt/miss/bin/exe"}
	l, err := NewLoader(fx.fs)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string][]string)
	for _, p := range progs {
		objs, _ := fx.l.Process(p, DlopenPolicy{Priority: PrioritySuggested})
		want[p] = objLines(objs)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range progs {
				p := progs[(i+j)%len(progs)]
				objs, _ := l.Process(p, DlopenPolicy{Priority: PrioritySuggested})
				if got := objLines(objs); !reflect.DeepEqual(got, want[p]) {
					t.Errorf("%s: got %q, want %q", p, got, want[p])
				}
			}
		})
	}
	wg.Wait()
}

// TestFileOfAndParsed: a file handed over open (FileOf), or one the Loader
// knows by its device and inode (Parsed), is not opened again. The paths
// given are absent from the tree: had the Loader opened them, it would have
// failed.
func TestFileOfAndParsed(t *testing.T) {
	fx := fixtures(t)
	l, err := NewLoader(fx.fs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fx.host("/opt/misc/bin/exe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	ef, err := l.FileOf("/opt/nowhere/exe", f)
	if err != nil || !slices.Contains(ef.Needed, "libreal.so") {
		t.Fatalf("FileOf = %+v, %v", ef, err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 16 {
		t.Errorf("FileOf moved the offset to %d", off)
	}
	if objs, err := l.Process("/opt/nowhere/exe", DlopenPolicy{}); err != nil || objs[0].Path != "/opt/nowhere/exe" {
		t.Fatalf("Process of the file handed over = %q, %v", objLines(objs), err)
	}

	lstat := func(p string) fs.FileInfo {
		fi, err := os.Lstat(fx.host(p))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	// The Process above found /usr/lib64/libreal.so.
	if ef, ok := l.Parsed("/opt/nowhere/libreal.so", lstat("/usr/lib64/libreal.so")); !ok || ef.Soname != "libreal.so" {
		t.Errorf("Parsed(libreal.so) = %+v, %v", ef, ok)
	}
	if _, err := l.File("/opt/nowhere/libreal.so"); err != nil {
		t.Errorf("the path Parsed was given is not remembered: %v", err)
	}
	// Not read yet; read and found not ELF; a directory.
	l.Process("/opt/m32/bin/exe", DlopenPolicy{})
	for _, p := range []string{"/usr/lib64/libD.so", "/opt/m32/b/libW.so.1", "/opt/m32/c/libW.so.1"} {
		if ef, ok := l.Parsed(p, lstat(p)); ok {
			t.Errorf("Parsed(%s) = %+v, true", p, ef)
		}
	}
}

func TestReadLdSoConf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no file", nil, nil},
		{"plain", map[string]string{"etc/ld.so.conf": "/a\n  /b/  \n\n# /c\n/a\n"}, []string{"/a", "/b"}},
		{"tab after include, several patterns", map[string]string{
			"etc/ld.so.conf":  "include\tx/*.conf /etc/y.conf\n/last\n",
			"etc/x/2.conf":    "/two",
			"etc/x/1.conf":    "/one",
			"etc/x/.h.conf":   "/hidden",
			"etc/x/1.conf~":   "/backup",
			"etc/y.conf":      "HWCAP 1 nosegneg\n/y\n",
			"etc/unused.conf": "/unused",
		}, []string{"/one", "/two", "/y", "/last"}},
		{"include loop", map[string]string{
			"etc/ld.so.conf": "include /etc/ld.so.conf\n/a\ninclude /etc/other\n",
			"etc/other":      "include ld.so.conf\n/b\n",
		}, []string{"/a", "/b"}},
		{"glob in a directory component", map[string]string{
			"etc/ld.so.conf": "include /etc/*/lib.conf\n",
			"etc/p/lib.conf": "/p",
			"etc/q/lib.conf": "/q",
		}, []string{"/p", "/q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fsys, err := rootfs.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()
			l, err := NewLoader(fsys)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.ConfDirs(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ConfDirs = %q, want %q", got, tc.want)
			}
		})
	}
}
