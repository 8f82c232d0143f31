package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

func workloadNames() []string {
	return []string{"systemd", "synthetic", "small10k", "small100k", "presets", "boot"}
}

// workload is a manifest and the files the pipeline copies for it.
type workload struct {
	name     string
	manifest string // path of the manifest file
	list     string // NUL-separated source paths, for cp --parents
	files    int    // entries of the archive
	bytes    int64  // bytes of file content
	cases    []string
	noneOnly bool // only "none" makes sense (entries/s)
	dir      string
}

// cleanup removes the per-run files; generated inputs stay cached.
func (w *workload) cleanup() { os.RemoveAll(w.dir) }

// prepare generates the workload's inputs (once) and its manifest.
func prepare(cfg *config, name string) (*workload, error) {
	dir, err := os.MkdirTemp(cfg.cache, "run-"+name+"-")
	if err != nil {
		return nil, err
	}
	w := &workload{name: name, dir: dir, manifest: filepath.Join(dir, "manifest.json"), list: filepath.Join(dir, "files.list")}
	var m map[string]any
	switch name {
	case "systemd":
		w.cases = []string{"zstd", "zstd-go", "gzip", "gzip-go", "xz", "lz4", "none"}
		m, err = systemdManifest(cfg)
	case "synthetic":
		// The pipeline's zstd -10 takes minutes on 2 GiB: keep the
		// default run short (zstd-go shares its pipeline runs and shows
		// the Go encoder's memory); BENCH_COMPRESSORS adds the others.
		w.cases = []string{"zstd", "zstd-go", "none"}
		var src string
		src, err = synthetic(filepath.Join(cfg.cache, "synthetic"))
		m = map[string]any{"contents": []any{map[string]any{"source": src}}}
	case "small10k", "small100k":
		w.cases, w.noneOnly = []string{"none"}, true
		n := 10000
		if name == "small100k" {
			n = 100000
		}
		var paths []string
		paths, err = smallFiles(filepath.Join(cfg.cache, "small"), 100000)
		var contents []any
		for _, p := range paths[:n] {
			contents = append(contents, map[string]any{"source": p})
		}
		m = map[string]any{"contents": contents}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := w.resolve(m); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return w, nil
}

// resolve writes the manifest, resolves it with the library as
// mkinitrd-ng would, and lists the source files for the pipeline.
func (w *workload) resolve(m map[string]any) error {
	delete(m, "compress")
	delete(m, "level")
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(w.manifest, data, 0o644); err != nil {
		return err
	}
	f, err := os.Open(w.manifest)
	if err != nil {
		return err
	}
	man, err := resolve.ParseManifest(f, w.manifest)
	f.Close()
	if err != nil {
		return err
	}
	c, err := mkinitrd.Resolve(man, mkinitrd.Options{AllowMissing: true})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var sources []string
	for i := range c.Entries {
		e := &c.Entries[i]
		if e.Kind == resolve.File {
			w.bytes += e.Size
		}
		if e.Kind != resolve.File || e.Source == "" {
			continue
		}
		// The canonical path: cp --parents copies a symlinked directory
		// on the way (merged /usr's /lib) as a link and then fails.
		src, err := filepath.EvalSymlinks(e.Source)
		if err != nil {
			return err
		}
		if !seen[src] {
			seen[src] = true
			sources = append(sources, src)
		}
	}
	w.files = len(c.Entries)
	sort.Strings(sources)
	return os.WriteFile(w.list, []byte(strings.Join(sources, "\x00")+"\x00"), 0o644)
}

// systemdManifest is examples/systemd-initrd.json (or, without it, a small
// systemd closure) plus the storage and filesystem modules of the newest
// installed kernel, given as directory sources.
func systemdManifest(cfg *config) (map[string]any, error) {
	m := map[string]any{}
	data, err := os.ReadFile(filepath.Join(cfg.repo, "examples", "systemd-initrd.json"))
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("examples/systemd-initrd.json: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		var contents []any
		for _, p := range []string{"/usr/lib/systemd/systemd", "/usr/bin/udevadm", "/usr/bin/systemctl", "/usr/bin/bash", "/usr/bin/mount", "/usr/bin/kmod"} {
			contents = append(contents, map[string]any{"source": p})
		}
		m["contents"] = contents
	default:
		return nil, err
	}
	kernels, _ := filepath.Glob("/lib/modules/*/kernel")
	if len(kernels) == 0 {
		return nil, errors.New("no /lib/modules/*/kernel: install linux-image-amd64 (make deps)")
	}
	sort.Strings(kernels)
	kdir := kernels[len(kernels)-1]
	contents, _ := m["contents"].([]any)
	for _, d := range []string{"drivers/ata", "drivers/nvme", "drivers/scsi", "drivers/md", "drivers/virtio",
		"drivers/block", "fs/ext4", "fs/btrfs", "fs/xfs", "fs/fat", "crypto"} {
		if _, err := os.Stat(filepath.Join(kdir, d)); err == nil {
			contents = append(contents, map[string]any{"source": filepath.Join(kdir, d)})
		}
	}
	m["contents"] = contents
	return m, nil
}

// syntheticVersion changes when the generator does, so that a stale cache
// is rebuilt.
const syntheticVersion = "synthetic v1: 2 GiB, 50000 files\n"

// synthetic generates (once) 2 GiB in 50,000 files under dir: ten 64 MiB
// files and 49,990 files of 0-58 KiB, each text-like, structured binary or
// random (incompressible), like an initrd's mix of scripts, code and
// compressed firmware.
func synthetic(dir string) (string, error) {
	root := filepath.Join(dir, "tree")
	stamp := filepath.Join(dir, "complete")
	if data, err := os.ReadFile(stamp); err == nil && string(data) == syntheticVersion {
		return root, nil
	}
	os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "generating %s (once)...\n", root)
	rng := rand.New(rand.NewPCG(1, 2))
	text, bin := textCorpus(rng, 32<<20), binCorpus(rng, 32<<20)
	const big, bigSize, files = 10, 64 << 20, 50000
	smallAvg := (2<<30 - big*bigSize) / (files - big)
	buf := make([]byte, bigSize)
	for i := range files {
		size := rng.IntN(2 * smallAvg)
		if i%(files/big) == 0 {
			size = bigSize
		}
		p := filepath.Join(root, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		fill(rng, buf[:size], text, bin)
		if err := os.WriteFile(p, buf[:size], 0o644); err != nil {
			return "", err
		}
	}
	return root, os.WriteFile(stamp, []byte(syntheticVersion), 0o644)
}

// fill fills p with pieces of text, structured binary and random bytes.
func fill(rng *rand.Rand, p, text, bin []byte) {
	for len(p) > 0 {
		n := min(len(p), 4096+rng.IntN(256<<10))
		switch k := rng.IntN(10); {
		case k < 4:
			off := rng.IntN(len(text) - n)
			copy(p[:n], text[off:])
		case k < 8:
			off := rng.IntN(len(bin) - n)
			copy(p[:n], bin[off:])
		default:
			for i := range p[:n] {
				p[i] = byte(rng.Uint32())
			}
		}
		p = p[n:]
	}
}

func textCorpus(rng *rand.Rand, size int) []byte {
	words := strings.Fields(`[Unit] Description= After= Before= Wants= Requires= [Service] ExecStart=
		Type=oneshot RemainAfterExit=yes /usr/lib/systemd/ /etc/ initrd sysroot mount udev module
		firmware kernel device target the of and to in is for if then else fi echo exit local
		return "$1" ${root} --no-block # set -e case esac while do done KERNEL== SUBSYSTEM== ENV{
		ATTR{ RUN+= GOTO= LABEL= sd sda nvme virtio block ext4 btrfs xfs vfat 0 1 2 3 4 5 6 7 8 9`)
	out := make([]byte, 0, size+64)
	for len(out) < size {
		out = append(out, words[rng.IntN(len(words))]...)
		if rng.IntN(8) == 0 {
			out = append(out, '\n')
		} else {
			out = append(out, ' ')
		}
	}
	return out[:size]
}

// binCorpus is record-like binary: short random records repeated with
// small changes, as in code and tables.
func binCorpus(rng *rand.Rand, size int) []byte {
	out := make([]byte, 0, size+128)
	for len(out) < size {
		rec := make([]byte, 8+rng.IntN(56))
		for i := range rec {
			rec[i] = byte(rng.Uint32())
		}
		for range 1 + rng.IntN(64) {
			rec[rng.IntN(len(rec))] = byte(rng.Uint32())
			out = append(out, rec...)
		}
	}
	return out[:size]
}

// smallFiles generates (once) n text files of 100-2000 bytes under dir and
// returns their paths in order.
func smallFiles(dir string, n int) ([]string, error) {
	root := filepath.Join(dir, "tree")
	stamp := filepath.Join(dir, "complete")
	paths := make([]string, n)
	for i := range n {
		paths[i] = filepath.Join(root, fmt.Sprintf("d%03d", i/1000), fmt.Sprintf("f%06d.conf", i))
	}
	want := fmt.Sprintf("small v1: %d files\n", n)
	if data, err := os.ReadFile(stamp); err == nil && string(data) == want {
		return paths, nil
	}
	os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "generating %s (once)...\n", root)
	rng := rand.New(rand.NewPCG(3, 4))
	text := textCorpus(rng, 1<<20)
	for i, p := range paths {
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
		}
		size := 100 + rng.IntN(1900)
		off := rng.IntN(len(text) - size)
		if err := os.WriteFile(p, text[off:off+size], 0o644); err != nil {
			return nil, err
		}
	}
	return paths, os.WriteFile(stamp, []byte(want), 0o644)
}

// toolVersions names the versions of the pipeline's tools.
func toolVersions() string {
	var out []string
	for _, t := range [][]string{{"cpio", "--version"}, {"zstd", "--version"}, {"gzip", "--version"}, {"xz", "--version"}, {"lz4", "--version"}} {
		b, err := output(t[0], t[1:]...)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.Trim(line, "* ")
		out = append(out, line)
	}
	return strings.Join(out, "; ")
}
