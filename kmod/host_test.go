package kmod

import (
	"bytes"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// These tests compare with modprobe and depmod on the machine's own
// kernel (the Makefile installs linux-image-amd64 and kmod).

var hostNames = []string{"virtio_blk", "ext4", "crc32c"}

func hostKernel(t *testing.T) (*rootfs.FS, string) {
	t.Helper()
	fsys := openRoot(t, "/")
	ver, err := DefaultKernelVersion(fsys)
	if err != nil {
		t.Fatalf("no kernel modules on this machine (install linux-image-amd64): %v", err)
	}
	return fsys, ver
}

// showDepends runs modprobe --show-depends for one name; dir is the root
// given to -d, "" for the machine's. Lines are returned with dir removed.
func showDepends(t *testing.T, dir, ver, name string) []string {
	t.Helper()
	args := []string{"-S", ver, "--show-depends", name}
	if dir != "" {
		args = append([]string{"-d", dir}, args...)
	}
	out, err := exec.Command("modprobe", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("modprobe %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if dir != "" {
			l = strings.ReplaceAll(l, dir, "")
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	return lines
}

// insmodPaths returns the module files of modprobe --show-depends lines.
func insmodPaths(lines []string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "insmod" {
			out = append(out, f[1])
		}
	}
	return out
}

func TestHostClosureMatchesModprobe(t *testing.T) {
	fsys, ver := hostKernel(t)
	want := map[string]bool{}
	for _, n := range hostNames {
		for _, p := range insmodPaths(showDepends(t, "", ver, n)) {
			want[p] = true
		}
	}
	res, err := Resolve(fsys, Options{KernelVersion: ver, Load: hostNames})
	must(t, err)
	var got []string
	for _, m := range res.Modules {
		got = append(got, m.Path)
	}
	wantList := slices.Sorted(maps.Keys(want))
	if !slices.Equal(got, wantList) {
		t.Errorf("closure of %q\n got %q\nwant %q (modprobe)", hostNames, got, wantList)
	}
}

// extract writes the module files and generated files of res under dir,
// as the initrd would hold them: decompressed when the File says so.
func extract(t *testing.T, fsys *rootfs.FS, res *Result, dir string) {
	t.Helper()
	for _, m := range res.Modules {
		src, err := fsys.Open(m.Source)
		must(t, err)
		var r io.Reader = src
		if m.Decompress {
			rc, err := compressors.NewDecoder(src)
			must(t, err)
			defer rc.Close()
			r = rc
		}
		dest := filepath.Join(dir, m.Path)
		must(t, os.MkdirAll(filepath.Dir(dest), 0o755))
		out, err := os.Create(dest)
		must(t, err)
		n, err := io.Copy(out, r)
		must(t, err)
		must(t, out.Close())
		src.Close()
		if n != m.Size {
			t.Errorf("%s: %d bytes, Size says %d", m.Path, n, m.Size)
		}
	}
	for _, g := range res.Generated {
		dest := filepath.Join(dir, g.Path)
		must(t, os.MkdirAll(filepath.Dir(dest), 0o755))
		must(t, os.WriteFile(dest, g.Data, 0o644))
	}
}

func TestHostGeneratedIndexesWorkWithModprobe(t *testing.T) {
	fsys, ver := hostKernel(t)
	builtin := strings.Fields(string(readTree(t, fsys, path.Join("/lib/modules", ver, "modules.builtin"))))
	if len(builtin) == 0 {
		t.Fatal("no built-in module to test")
	}
	bname := ModName(builtin[0])
	names := append(slices.Clone(hostNames), bname)
	res, err := Resolve(fsys, Options{KernelVersion: ver, Load: names})
	must(t, err)
	if !slices.Equal(res.Builtin, []string{bname}) {
		t.Errorf("builtin %q, want %q", res.Builtin, bname)
	}
	dir := t.TempDir()
	extract(t, fsys, res, dir)
	for _, n := range names {
		got := showDepends(t, dir, ver, n)
		want := showDepends(t, "", ver, n)
		if !slices.Equal(got, want) {
			t.Errorf("modprobe -d <initrd> --show-depends %s:\n%s\nwant (host):\n%s", n, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// A module left out is not found in the initrd's indexes.
	out, err := exec.Command("modprobe", "-d", dir, "-S", ver, "--show-depends", "nvme").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not found") {
		t.Errorf("nvme in the initrd tree: %v\n%s", err, out)
	}
}

func readTree(t *testing.T, fsys *rootfs.FS, p string) []byte {
	t.Helper()
	b, err := fsys.ReadFile(p)
	must(t, err)
	return b
}

// TestHostIndexesByteIdentical generates the indexes for every module of
// the machine's kernel and compares them, text and binary, with what
// depmod wrote.
func TestHostIndexesByteIdentical(t *testing.T) {
	fsys, ver := hostKernel(t)
	dir := path.Join("/lib/modules", ver)
	d, err := loadDB(fsys, dir)
	must(t, err)
	r := &resolver{fsys: fsys, ver: ver, db: d, cfg: &config{}, mods: map[string]*included{}}
	for _, m := range d.modules {
		r.mods[m.name] = &included{m: m}
	}
	gen, err := r.generate()
	must(t, err)
	compared := 0
	for _, g := range gen {
		want, err := fsys.ReadFile(g.Path)
		if err != nil {
			t.Logf("%s: not on this machine, not compared", g.Path)
			continue
		}
		compared++
		if !bytes.Equal(g.Data, want) {
			t.Errorf("%s: %d bytes differ from depmod's %d", g.Path, len(g.Data), len(want))
		}
	}
	if compared < 10 {
		t.Errorf("only %d files compared", compared)
	}
}

// TestHostCompressedModules compresses the machine's modules for a few
// names (Debian ships them uncompressed), lets depmod index them, and
// checks both ways of storing them against modprobe.
func TestHostCompressedModules(t *testing.T) {
	host, ver := hostKernel(t)
	hostRes, err := Resolve(host, Options{KernelVersion: ver, Load: hostNames})
	must(t, err)
	src := t.TempDir()
	hostDir := path.Join("/lib/modules", ver)
	modDir := filepath.Join(src, "lib/modules", ver)
	plain := map[string][]byte{}
	for i, m := range hostRes.Modules {
		rel := strings.TrimPrefix(m.Path, hostDir+"/")
		data := readTree(t, host, m.Path)
		dest := filepath.Join(modDir, rel)
		must(t, os.MkdirAll(filepath.Dir(dest), 0o755))
		must(t, os.WriteFile(dest, data, 0o644))
		tool := []string{"xz", "--check=crc32", "--lzma2=dict=1MiB", "-q"}
		suffix := ".xz"
		if i%2 == 1 {
			tool, suffix = []string{"zstd", "-q", "--rm"}, ".zst"
		}
		if out, err := exec.Command(tool[0], append(tool[1:], dest)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", tool[0], err, out)
		}
		plain[rel+suffix] = data
	}
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		must(t, os.WriteFile(filepath.Join(modDir, f), readTree(t, host, path.Join(hostDir, f)), 0o644))
	}
	if out, err := exec.Command("depmod", "-b", src, ver).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, out)
	}
	fsys := openRoot(t, src)
	for _, decompress := range []bool{false, true} {
		res, err := Resolve(fsys, Options{KernelVersion: ver, Load: hostNames, Decompress: decompress})
		must(t, err)
		if len(res.Modules) != len(hostRes.Modules) {
			t.Fatalf("decompress=%v: %d modules, %d uncompressed", decompress, len(res.Modules), len(hostRes.Modules))
		}
		for _, m := range res.Modules {
			if want := int64(len(plain[strings.TrimPrefix(m.Source, hostDir+"/")])); decompress && m.Size != want {
				t.Errorf("%s: size %d, want the uncompressed %d", m.Path, m.Size, want)
			}
		}
		out := t.TempDir()
		extract(t, fsys, res, out)
		for _, n := range hostNames {
			got := showDepends(t, out, ver, n)
			want := showDepends(t, src, ver, n)
			if decompress {
				for i := range want {
					want[i] = strings.NewReplacer(".ko.xz", ".ko", ".ko.zst", ".ko").Replace(want[i])
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("decompress=%v: --show-depends %s\n got %q\nwant %q", decompress, n, got, want)
			}
		}
		if decompress {
			for _, m := range res.Modules {
				got, err := os.ReadFile(filepath.Join(out, m.Path))
				must(t, err)
				if !bytes.Equal(got, plain[strings.TrimPrefix(m.Source, hostDir+"/")]) {
					t.Errorf("%s: decompressed contents differ from the original", m.Path)
				}
			}
		}
	}
}

// TestKernelLookup: names, modaliases and built-in modules of the
// machine's kernel, as modprobe resolves them.
func TestKernelLookup(t *testing.T) {
	fsys, ver := hostKernel(t)
	k, err := OpenKernel(fsys, ver)
	if err != nil {
		t.Fatal(err)
	}
	if k.Version() != ver {
		t.Errorf("version %s, want %s", k.Version(), ver)
	}
	for _, tc := range []struct {
		name    string
		want    []string
		builtin bool
	}{
		{"virtio-blk", []string{"virtio_blk"}, false},
		{"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", []string{"virtio_pci"}, false},
		{"zswap", nil, true},
	} {
		mods, builtin, err := k.Lookup(tc.name)
		if err != nil || !slices.Equal(mods, tc.want) || builtin != tc.builtin {
			t.Errorf("Lookup(%q) = %v, %v, %v; want %v, %v", tc.name, mods, builtin, err, tc.want, tc.builtin)
		}
	}
	if _, _, err := k.Lookup("no_such_module"); err == nil {
		t.Error("an unknown name is no error")
	}
}

// TestModulesUnder: the modules a kernel ships for a kind of hardware.
func TestModulesUnder(t *testing.T) {
	fsys, ver := hostKernel(t)
	k, err := OpenKernel(fsys, ver)
	if err != nil {
		t.Fatal(err)
	}
	got := k.ModulesUnder("kernel/drivers/nvme/host", "kernel/fs/xfs/")
	for _, want := range []string{"nvme", "nvme_core", "xfs"} {
		if !slices.Contains(got, want) {
			t.Errorf("ModulesUnder lacks %s: %v", want, got)
		}
	}
	if slices.Contains(got, "ext4") {
		t.Errorf("ModulesUnder lists ext4 outside the directories: %v", got)
	}
}
