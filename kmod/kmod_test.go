package kmod

import (
	"bytes"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
)

func modulePaths(res *Result) []string {
	var out []string
	for _, m := range res.Modules {
		out = append(out, strings.TrimPrefix(m.Path, "/lib/modules/"+res.KernelVersion+"/"))
	}
	return out
}

func TestResolveFakeTree(t *testing.T) {
	root, _ := fakeTree(t)
	fsys := openRoot(t, root)
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	tests := []struct {
		name        string
		opts        Options
		want        []string // module paths relative to the modules directory
		wantBuiltin []string
		wantErr     []string // substrings of the error
		wantWarn    []string // substrings of some warning
	}{
		{
			name: "hard, soft (modinfo and modules.softdep) and weak dependencies",
			opts: Options{Load: []string{"foo"}},
			want: sorted("kernel/fs/foo/foo.ko", "kernel/lib/common.ko", "kernel/lib/bar.ko.xz",
				"kernel/lib/baz-mod.ko.zst", "kernel/lib/weak_one.ko"),
		},
		{
			name: "alias with a glob",
			opts: Options{Include: []string{"pci:v00008086d00001234sv00000000"}},
			want: sorted("kernel/drivers/dev-one.ko", "kernel/lib/common.ko"),
		},
		{
			name: "dashes and underscores are the same",
			opts: Options{Include: []string{"dev-one", "dev_one", "baz_mod"}},
			want: sorted("kernel/drivers/dev-one.ko", "kernel/lib/common.ko", "kernel/lib/baz-mod.ko.zst", "kernel/lib/weak_one.ko"),
		},
		{
			name: "an alias of two modules brings both",
			opts: Options{Include: []string{"crypto_thing"}},
			want: sorted("kernel/lib/baz-mod.ko.zst", "kernel/lib/qux.ko.gz", "kernel/lib/weak_one.ko"),
		},
		{
			name: "post softdep from modules.softdep only",
			opts: Options{Include: []string{"soft-src"}},
			want: sorted("kernel/drivers/soft-src.ko", "kernel/lib/qux.ko.gz"),
		},
		{
			name:        "built-in names and aliases need no file",
			opts:        Options{Load: []string{"ext9"}, Include: []string{"bi-alias", "bi_mod", "pci:v0000BEEFd00000042"}},
			wantBuiltin: []string{"bi-alias", "bi_mod", "ext9", "pci:v0000BEEFd00000042"},
		},
		{
			name: "modprobe.d alias and continued softdep line",
			opts: Options{Include: []string{"my-alias"}},
			want: sorted("kernel/drivers/unused.ko", "kernel/lib/common.ko"),
		},
		{
			name: "symbol alias",
			opts: Options{Include: []string{"symbol:common_fn"}},
			want: sorted("kernel/lib/common.ko"),
		},
		{
			name:     "unknown soft dependency is a warning",
			opts:     Options{Include: []string{"bad-softdep"}},
			want:     sorted("kernel/drivers/bad-softdep.ko"),
			wantWarn: []string{`module bad_softdep: pre soft dependency no-such-module: module "no-such-module" not found`},
		},
		{
			name:    "unknown module with close matches",
			opts:    Options{Load: []string{"fooo", "commn"}, Include: []string{"foo"}},
			want:    sorted("kernel/fs/foo/foo.ko", "kernel/lib/common.ko", "kernel/lib/bar.ko.xz", "kernel/lib/baz-mod.ko.zst", "kernel/lib/weak_one.ko"),
			wantErr: []string{`module "commn" not found for kernel 6.1.0-10`, "close matches: common", `module "fooo" not found`, "close matches: foo"},
		},
		{
			name:    "an /etc/modprobe.d file hides the /lib one of the same name",
			opts:    Options{Include: []string{"hidden-by-etc"}},
			wantErr: []string{`module "hidden-by-etc" not found`},
		},
		{
			name:    "unmatched bracket",
			opts:    Options{Include: []string{"bad["}},
			wantErr: []string{`module "bad[": not a valid module name or alias`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Resolve(fsys, tt.opts)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to contain %q", err, w)
				}
			}
			if res == nil {
				t.Fatal("no result")
			}
			if res.KernelVersion != fakeVersion {
				t.Errorf("kernel version %q, want %q", res.KernelVersion, fakeVersion)
			}
			got := modulePaths(res)
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("modules\n got %q\nwant %q", got, tt.want)
			}
			if !slices.Equal(res.Builtin, tt.wantBuiltin) {
				t.Errorf("builtin %q, want %q", res.Builtin, tt.wantBuiltin)
			}
			for _, w := range tt.wantWarn {
				if !slices.ContainsFunc(res.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("warnings %q, want one containing %q", res.Warnings, w)
				}
			}
		})
	}
}

func TestResolveWhy(t *testing.T) {
	root, _ := fakeTree(t)
	res, err := Resolve(openRoot(t, root), Options{Load: []string{"fs-foo"}})
	must(t, err)
	dir := "/lib/modules/" + fakeVersion + "/"
	want := map[string][2]string{
		"kernel/fs/foo/foo.ko":      {"load fs-foo (alias of foo)", ""},
		"kernel/lib/common.ko":      {"needed by module foo", dir + "kernel/fs/foo/foo.ko"},
		"kernel/lib/bar.ko.xz":      {"soft dependency (pre) of module foo: bar-alias", dir + "kernel/fs/foo/foo.ko"},
		"kernel/lib/baz-mod.ko.zst": {"soft dependency (post) of module foo: baz-mod", dir + "kernel/fs/foo/foo.ko"},
		"kernel/lib/weak_one.ko":    {"weak dependency of module baz_mod: weak_one", dir + "kernel/lib/baz-mod.ko.zst"},
	}
	if len(res.Modules) != len(want) {
		t.Fatalf("modules %q", modulePaths(res))
	}
	for _, m := range res.Modules {
		w := want[strings.TrimPrefix(m.Path, dir)]
		if m.Why != w[0] || m.From != w[1] {
			t.Errorf("%s: why %q from %q, want %q from %q", m.Path, m.Why, m.From, w[0], w[1])
		}
		if m.Source != m.Path || m.Decompress {
			t.Errorf("%s: source %s decompress %v", m.Path, m.Source, m.Decompress)
		}
	}
}

func TestDefaultKernelVersion(t *testing.T) {
	root, _ := fakeTree(t)
	fsys := openRoot(t, root)
	vers, err := KernelVersions(fsys)
	must(t, err)
	if want := []string{"6.1.0-10", "6.1.0-9"}; !slices.Equal(vers, want) {
		t.Errorf("versions %q, want %q", vers, want)
	}
	if _, err := Resolve(fsys, Options{KernelVersion: "6.1.0-11"}); err == nil || !strings.Contains(err.Error(), "versions present: 6.1.0-10, 6.1.0-9") {
		t.Errorf("missing version: %v", err)
	}
	// 6.1.0-9's modules.dep names a file that is not there: an error
	// naming it, which shows the version asked for was used.
	res, err := Resolve(fsys, Options{KernelVersion: "6.1.0-9", Include: []string{"old"}})
	if err == nil || !strings.Contains(err.Error(), "module old (include old): open /lib/modules/6.1.0-9/kernel/old.ko: no such file") {
		t.Errorf("6.1.0-9: %v", err)
	}
	if got := modulePaths(res); !slices.Equal(got, []string{"kernel/old.ko"}) {
		t.Errorf("6.1.0-9 modules %q", got)
	}
	if _, err := DefaultKernelVersion(openRoot(t, t.TempDir())); err == nil {
		t.Error("a tree without modules has a default kernel version")
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-10-amd64", "6.1.0-9-amd64", 1},
		{"6.1.0-9-amd64", "6.1.0-10-amd64", -1},
		{"6.10.1", "6.9.12", 1},
		{"5.15.0", "5.15.0", 0},
		{"6.1.0", "6.1.0-1", -1},
		{"6.1.0-rc1", "6.1.0-rc2", -1},
		{"6.01", "6.1", 0},
		{"6.1.0-56-amd64", "6.1.0-56-cloud-amd64", -1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFirmware(t *testing.T) {
	root, _ := fakeTree(t)
	res, err := Resolve(openRoot(t, root), Options{Load: []string{"foo"}, Firmware: true})
	must(t, err)
	var got []string
	for _, f := range res.Firmware {
		got = append(got, f.Path)
		if f.Source != f.Path || f.Size == 0 || !strings.HasPrefix(f.Why, "firmware ") || f.From == "" {
			t.Errorf("firmware %+v", f)
		}
	}
	want := []string{
		"/lib/firmware/bar/wild-1.bin",     // glob, plain
		"/lib/firmware/bar/wild-2.bin.zst", // glob, zstd
		"/lib/firmware/foo/xzonly.bin.xz",  // only an xz variant exists
		"/lib/firmware/updates/foo/fw.bin", // updates/ wins over the base directory
	}
	if !slices.Equal(got, want) {
		t.Errorf("firmware\n got %q\nwant %q", got, want)
	}
	if !slices.ContainsFunc(res.Warnings, func(s string) bool {
		return s == "module foo: firmware not found in /lib/firmware: foo/missing.bin"
	}) {
		t.Errorf("warnings %q lack the missing firmware", res.Warnings)
	}
	// Without the option no firmware is looked up.
	res, err = Resolve(openRoot(t, root), Options{Load: []string{"foo"}})
	must(t, err)
	if len(res.Firmware) != 0 || len(res.Warnings) != 0 {
		t.Errorf("firmware %v warnings %q without Firmware", res.Firmware, res.Warnings)
	}
}

func TestDecompress(t *testing.T) {
	root, plain := fakeTree(t)
	fsys := openRoot(t, root)
	for _, decompress := range []bool{false, true} {
		res, err := Resolve(fsys, Options{Include: []string{"crypto-thing", "bar"}, Decompress: decompress})
		must(t, err)
		dir := "/lib/modules/" + fakeVersion + "/"
		for _, m := range res.Modules {
			rel := strings.TrimPrefix(m.Source, dir)
			want := plain[rel]
			fi, err := os.Stat(path.Join(root, m.Source))
			must(t, err)
			compressed := compression(rel) != ""
			switch {
			case !decompress || !compressed:
				if m.Path != m.Source || m.Decompress || m.Size != fi.Size() {
					t.Errorf("decompress=%v: %+v (file size %d)", decompress, m, fi.Size())
				}
			default:
				if m.Path != strings.TrimSuffix(m.Source, compression(rel)) || !m.Decompress || m.Size != int64(len(want)) {
					t.Errorf("decompress=%v: %+v, want size %d", decompress, m, len(want))
				}
				f, err := fsys.Open(m.Source)
				must(t, err)
				rc, err := compressors.NewDecoder(f)
				must(t, err)
				got, err := io.ReadAll(rc)
				must(t, err)
				rc.Close()
				f.Close()
				if !bytes.Equal(got, want) {
					t.Errorf("%s: decompressed contents differ from the module built", m.Source)
				}
			}
		}
		dep := generated(t, res, "modules.dep")
		wantDep := "kernel/lib/bar.ko.xz:\nkernel/lib/baz-mod.ko.zst:\nkernel/lib/qux.ko.gz:\nkernel/lib/weak_one.ko:\n"
		if decompress {
			wantDep = "kernel/lib/bar.ko:\nkernel/lib/baz-mod.ko:\nkernel/lib/qux.ko:\nkernel/lib/weak_one.ko:\n"
		}
		if string(dep) != wantDep {
			t.Errorf("decompress=%v: modules.dep\n%s\nwant\n%s", decompress, dep, wantDep)
		}
	}
	if compression("x.ko") != "" {
		t.Error("a .ko has a compression suffix")
	}
}

func TestModInfoOfEveryCompression(t *testing.T) {
	root := t.TempDir()
	info := []string{"alias=a-b", "softdep=pre: x post: y", "firmware=f.bin", "description=with = sign"}
	var mods []fakeModule
	for _, suf := range []string{"", ".xz", ".zst", ".gz"} {
		mods = append(mods, fakeModule{"m" + strings.TrimPrefix(suf, ".") + ".ko" + suf, info})
	}
	plain := buildModules(t, root, "v", mods)
	fsys := openRoot(t, root)
	for _, m := range mods {
		facts, err := readModule(fsys, "/lib/modules/v/"+m.rel)
		if err != nil {
			t.Fatal(err)
		}
		want := ModInfo{{"alias", "a-b"}, {"softdep", "pre: x post: y"}, {"firmware", "f.bin"}, {"description", "with = sign"}}
		if !slices.Equal(facts.info, want) {
			t.Errorf("%s: modinfo %q, want %q", m.rel, facts.info, want)
		}
		if facts.size != int64(len(plain[m.rel])) {
			t.Errorf("%s: size %d, want %d", m.rel, facts.size, len(plain[m.rel]))
		}
	}
	if _, err := readModule(fsys, "/lib/modules/v/missing.ko"); err == nil {
		t.Error("a missing module was read")
	}
	writeFiles(t, root, map[string]string{"lib/modules/v/junk.ko": "not ELF", "lib/modules/v/junk.ko.xz": "not xz"})
	for _, p := range []string{"junk.ko", "junk.ko.xz"} {
		if _, err := readModule(fsys, "/lib/modules/v/"+p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file", p, err)
		}
	}
}

func generated(t *testing.T, res *Result, name string) []byte {
	t.Helper()
	p := name
	if !strings.HasPrefix(name, "/") {
		p = res.ModuleDir + "/" + name
	}
	for _, g := range res.Generated {
		if g.Path == p {
			return g.Data
		}
	}
	t.Fatalf("no generated %s", p)
	return nil
}

func TestGeneratedText(t *testing.T) {
	root, _ := fakeTree(t)
	res, err := Resolve(openRoot(t, root), Options{Load: []string{"foo", "foo", "ext9"}, Include: []string{"unused"}})
	must(t, err)
	want := map[string]string{
		"modules.dep": `kernel/fs/foo/foo.ko: kernel/lib/common.ko
kernel/lib/common.ko:
kernel/lib/bar.ko.xz:
kernel/lib/baz-mod.ko.zst:
kernel/lib/weak_one.ko:
kernel/drivers/unused.ko:
`,
		"modules.alias":   aliasHeader + "alias fs-foo foo\nalias bar-alias bar\nalias crypto-thing baz_mod\nalias char-major-10-229 unused\nalias devname:unused unused\n",
		"modules.softdep": softdepHeader + "softdep foo pre: bar-alias post: baz-mod\n",
		"modules.symbols": symbolsHeader + "alias symbol:common_fn common\nalias symbol:unused_fn unused\n",
		"modules.devname": devnameHeader + "unused unused c10:229\n",
		"modules.order":   "kernel/lib/common.ko\nkernel/fs/foo/foo.ko\nkernel/lib/bar.ko\nkernel/lib/baz-mod.ko\nkernel/lib/weak_one.ko\nkernel/drivers/unused.ko\n",
		"modules.builtin": "kernel/fs/ext9/ext9.ko\nkernel/drivers/bi-mod.ko\n",
		ModulesLoadConf:   "# Modules loaded at boot, written by mkinitrd-ng.\nfoo\next9\n",
	}
	for name, w := range want {
		if got := generated(t, res, name); string(got) != w {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, w)
		}
	}
	var paths []string
	for _, g := range res.Generated {
		paths = append(paths, strings.TrimPrefix(g.Path, res.ModuleDir+"/"))
	}
	wantPaths := []string{ModulesLoadConf, "modules.alias", "modules.alias.bin", "modules.builtin", "modules.builtin.alias.bin",
		"modules.builtin.bin", "modules.builtin.modinfo", "modules.dep", "modules.dep.bin", "modules.devname",
		"modules.order", "modules.softdep", "modules.symbols", "modules.symbols.bin"}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("generated %q\nwant %q", paths, wantPaths)
	}
	var conf []string
	for _, c := range res.Config {
		conf = append(conf, c.Path)
	}
	if want := []string{"/etc/modprobe.d/local.conf", "/lib/modprobe.d/other.conf"}; !slices.Equal(conf, want) {
		t.Errorf("config %q, want %q", conf, want)
	}
	if c := res.Config[len(res.Config)-1]; string(c.Data) != "blacklist nothing\n" || c.Size != int64(len(c.Data)) {
		t.Errorf("config %s: Data %q, Size %d; want its content", c.Path, c.Data, c.Size)
	}
	for _, m := range res.Modules {
		if m.Data != nil {
			t.Errorf("module %s: Data kept in memory", m.Path)
		}
	}
	// No Load, no modules-load.d file.
	res, err = Resolve(openRoot(t, root), Options{Include: []string{"foo"}})
	must(t, err)
	for _, g := range res.Generated {
		if g.Path == ModulesLoadConf {
			t.Error("modules-load.d file without Load")
		}
	}
}

func TestMicrocode(t *testing.T) {
	root := t.TempDir()
	fsys := openRoot(t, root)
	got, err := Microcode(fsys)
	if err != nil || len(got) != 0 {
		t.Fatalf("no firmware: %v %v", got, err)
	}
	writeFiles(t, root, map[string]string{
		"lib/firmware/intel-ucode/06-9e-0a":               "B",
		"lib/firmware/intel-ucode/06-03-02":               "A",
		"lib/firmware/intel-ucode/.hidden":                "X",
		"lib/firmware/intel-ucode/sub/06-00-00":           "X",
		"lib/firmware/amd-ucode/microcode_amd_fam17h.bin": "D",
		"lib/firmware/amd-ucode/microcode_amd.bin":        "C",
		"lib/firmware/amd-ucode/microcode_amd.bin.asc":    "X",
		"lib/firmware/amd-ucode/README":                   "X",
	})
	must(t, os.Mkdir(root+"/lib/firmware/amd-ucode/microcode_amd_fam19h.bin", 0o755))
	must(t, os.Symlink("06-9e-0a", root+"/lib/firmware/intel-ucode/06-ff-ff"))
	must(t, os.Symlink("nowhere", root+"/lib/firmware/intel-ucode/06-ff-fe"))
	got, err = Microcode(fsys)
	must(t, err)
	want := []Generated{
		{IntelMicrocode, []byte("ABB"), "Intel microcode for early loading: 3 files of /lib/firmware/intel-ucode"},
		{AMDMicrocode, []byte("CD"), "AMD microcode for early loading: 2 files of /lib/firmware/amd-ucode"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d files", len(got))
	}
	for i := range want {
		if got[i].Path != want[i].Path || string(got[i].Data) != string(want[i].Data) || got[i].Why != want[i].Why {
			t.Errorf("got %s %q %q, want %s %q %q", got[i].Path, got[i].Data, got[i].Why, want[i].Path, want[i].Data, want[i].Why)
		}
	}
}

// TestFakeTreeWithModprobe checks the generated binary indexes with the
// real modprobe: glob aliases, dashes, symbols, built-in names and
// aliases, soft dependencies.
func TestFakeTreeWithModprobe(t *testing.T) {
	root, _ := fakeTree(t)
	fsys := openRoot(t, root)
	for _, decompress := range []bool{false, true} {
		names := []string{"foo", "crypto-thing", "pci:v00008086d00001234sv00000000", "symbol:common_fn", "ext9", "bi-alias"}
		res, err := Resolve(fsys, Options{Include: names, Decompress: decompress})
		must(t, err)
		dir := t.TempDir()
		extract(t, fsys, res, dir)
		ko := func(rel string) string {
			if decompress {
				rel = strings.TrimSuffix(rel, compression(rel))
			}
			return "insmod /lib/modules/" + fakeVersion + "/" + rel
		}
		want := map[string][]string{
			// pre softdep, hard dependency, the module, post softdep.
			"foo":                              {ko("kernel/lib/bar.ko.xz"), ko("kernel/lib/common.ko"), ko("kernel/fs/foo/foo.ko"), ko("kernel/lib/baz-mod.ko.zst")},
			"crypto-thing":                     {ko("kernel/lib/baz-mod.ko.zst"), ko("kernel/lib/qux.ko.gz")},
			"pci:v00008086d00001234sv00000000": {ko("kernel/lib/common.ko"), ko("kernel/drivers/dev-one.ko")},
			"symbol:common_fn":                 {ko("kernel/lib/common.ko")},
			"ext9":                             {"builtin ext9"},
			"bi-alias":                         {"builtin bi_mod"},
		}
		for _, n := range names {
			got := showDepends(t, dir, fakeVersion, n)
			sort.Strings(got)
			w := slices.Clone(want[n])
			sort.Strings(w)
			if !slices.Equal(got, w) {
				t.Errorf("decompress=%v: modprobe --show-depends %s\n got %q\nwant %q", decompress, n, got, w)
			}
		}
	}
}
