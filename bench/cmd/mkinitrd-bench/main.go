// Command mkinitrd-bench compares mkinitrd-ng with the shell pipeline
// NixOS builds initrds with (copy into a staging directory, then
// find | sort | cpio | compressor) on the same inputs, and prints a table
// of medians: wall time, output size and peak memory.
//
// It is what `make bench` runs. The workloads are generated on first use
// into a cache directory and reused:
//
//	systemd    examples/systemd-initrd.json plus the running kernel's storage
//	           and filesystem modules (directory sources)
//	synthetic  2 GiB in 50,000 files of mixed text and binary
//	small10k   10,000 small files, one manifest entry each (-c none)
//	small100k  100,000 small files, one manifest entry each (-c none)
//	presets    every documented compressor preset on the systemd workload
//	boot       the systemd example built with each preset and booted in QEMU:
//	           the kernel's initramfs unpack time and the time to switch root
//
// Environment:
//
//	BENCH_RUNS         runs per measurement, the median is reported (default 5)
//	BENCH_PRESET_RUNS  runs per preset in the presets and boot tables (default 1)
//	BENCH_WORKLOADS    comma-separated list of the workloads above (default
//	                   all but presets, which takes about 3 minutes more, and
//	                   boot, about 15 minutes under TCG)
//	BENCH_COMPRESSORS  comma-separated subset of zstd, zstd-go, gzip, gzip-go,
//	                   xz, xz-go, lz4, none (default: all but xz-go, and only
//	                   zstd, zstd-go and none for synthetic)
//	BENCH_CACHE        where workloads are generated (default /var/tmp/mkinitrd-ng-bench)
//	BENCH_BIN          the mkinitrd-ng binary (default bin/mkinitrd-ng)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkinitrd-bench:", err)
		os.Exit(1)
	}
}

// config is what the environment and flags select.
type config struct {
	runs        int
	presetRuns  int
	workloads   []string
	compressors []string // nil: each workload's default
	cache       string
	bin         string
	repo        string // the source tree, for examples/
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseConfig() (*config, error) {
	cfg := &config{}
	runs := env("BENCH_RUNS", "5")
	n, err := strconv.Atoi(runs)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("BENCH_RUNS=%q: want a number >= 1", runs)
	}
	cfg.runs = n
	pruns := env("BENCH_PRESET_RUNS", "1")
	if cfg.presetRuns, err = strconv.Atoi(pruns); err != nil || cfg.presetRuns < 1 {
		return nil, fmt.Errorf("BENCH_PRESET_RUNS=%q: want a number >= 1", pruns)
	}
	cfg.workloads = split(env("BENCH_WORKLOADS", "systemd,synthetic,small10k,small100k"))
	for _, w := range cfg.workloads {
		if !slices.Contains(workloadNames(), w) {
			return nil, fmt.Errorf("BENCH_WORKLOADS: unknown workload %q (known: %s)", w, strings.Join(workloadNames(), ", "))
		}
	}
	if s := os.Getenv("BENCH_COMPRESSORS"); s != "" {
		cfg.compressors = split(s)
		for _, c := range cfg.compressors {
			if _, ok := lookupCase(c); !ok {
				return nil, fmt.Errorf("BENCH_COMPRESSORS: unknown case %q (known: %s)", c, strings.Join(caseNames(), ", "))
			}
		}
	}
	// /var/tmp survives reboots: the 2 GiB workload is generated once.
	tmp := "/var/tmp"
	if _, err := os.Stat(tmp); err != nil {
		tmp = os.TempDir()
	}
	cfg.cache = env("BENCH_CACHE", filepath.Join(tmp, "mkinitrd-ng-bench"))
	cfg.bin = env("BENCH_BIN", "bin/mkinitrd-ng")
	flag.StringVar(&cfg.repo, "repo", ".", "the mkinitrd-ng source tree (for examples/)")
	flag.Parse()
	abs, err := filepath.Abs(cfg.bin)
	if err != nil {
		return nil, err
	}
	cfg.bin = abs
	if _, err := os.Stat(cfg.bin); err != nil {
		return nil, fmt.Errorf("%v (run make build, or set BENCH_BIN)", err)
	}
	return cfg, nil
}

func run() error {
	cfg, err := parseConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.cache, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(timeCmd); err != nil {
		return fmt.Errorf("GNU time measures peak memory: %w (apt-get install time)", err)
	}
	for _, tool := range []string{"cp", "find", "sort", "cpio", "zstd", "gzip", "xz", "lz4"} {
		if _, err := lookPath(tool); err != nil {
			return fmt.Errorf("%s is needed for the pipeline: %w (make deps)", tool, err)
		}
	}
	fmt.Print(machine())
	fmt.Printf("runs: %d (median), workloads: %s\n\n", cfg.runs, strings.Join(cfg.workloads, ", "))
	start := time.Now()
	var rows []row
	var presetTable, bootTable string
	for _, name := range cfg.workloads {
		if name == "boot" {
			if bootTable, err = measureBoot(cfg); err != nil {
				return fmt.Errorf("boot: %w", err)
			}
			continue
		}
		if name == "presets" {
			w, err := prepare(cfg, "systemd")
			if err != nil {
				return fmt.Errorf("workload systemd: %w", err)
			}
			presetTable, err = measurePresets(cfg, w)
			w.cleanup()
			if err != nil {
				return fmt.Errorf("presets: %w", err)
			}
			continue
		}
		w, err := prepare(cfg, name)
		if err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "workload %s: %d files, %.1f MB\n", name, w.files, float64(w.bytes)/1e6)
		cases := w.cases
		if cfg.compressors != nil {
			cases = cfg.compressors
			if w.noneOnly {
				cases = []string{"none"}
			}
		}
		wrows, err := measure(cfg, w, cases)
		w.cleanup()
		if err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
		rows = append(rows, wrows...)
	}
	if len(rows) > 0 {
		fmt.Print(table(rows))
	}
	if presetTable != "" {
		fmt.Print("\n", presetTable)
	}
	if bootTable != "" {
		fmt.Print("\n", bootTable)
	}
	fmt.Printf("\nload average at the end: %s; total %v\n", loadavg(), time.Since(start).Round(time.Second))
	return nil
}

// machine describes the host, for the caveats in doc/performance.md.
func machine() string {
	var b strings.Builder
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&b, "machine: %s, %d CPUs, Linux %s, %s\n", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version())
	fmt.Fprintf(&b, "tools: %s\n", toolVersions())
	fmt.Fprintf(&b, "load average at the start: %s\n", loadavg())
	return b.String()
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
