package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// benchCase pairs a pipeline compressor with a mkinitrd-ng setting.
type benchCase struct {
	name     string
	pipeline string   // the pipeline's compressor command; "" writes plain cpio
	ours     []string // mkinitrd-ng's compressor flags
}

// cases are the compared settings. The pipeline's commands are NixOS's
// defaults; ours are the presets that stay within 1.02x of the pipeline's
// size (zstd, gzip, xz, lz4, none) or the pure-Go engines' defaults (-go).
func cases() []benchCase {
	return []benchCase{
		{"zstd", "zstd -10", []string{"-c", "zstd-cli"}},
		{"zstd-go", "zstd -10", []string{"-c", "zstd"}},
		{"gzip", "gzip -9n", []string{"-c", "gzip-cli", "--level", "6"}},
		{"gzip-go", "gzip -9n", []string{"-c", "gzip"}},
		{"xz", "xz --check=crc32 --lzma2=dict=512KiB", []string{"-c", "xz-cli"}},
		{"xz-go", "xz --check=crc32 --lzma2=dict=512KiB", []string{"-c", "xz"}},
		{"lz4", "lz4 -l", []string{"-c", "lz4"}},
		{"none", "", []string{"-c", "none"}},
	}
}

func caseNames() []string {
	var n []string
	for _, c := range cases() {
		n = append(n, c.name)
	}
	return n
}

func lookupCase(name string) (benchCase, bool) {
	for _, c := range cases() {
		if c.name == name {
			return c, true
		}
	}
	return benchCase{}, false
}

// sample is one timed run.
type sample struct {
	wall, cpu time.Duration
	size      int64
	rss       int64 // bytes, the largest process's peak
}

// row is one line of the table: medians of both sides.
type row struct {
	workload, name    string
	files             int
	pipeline, ours    sample
	pipeDesc, oursArg string
}

// measure runs each case's pipeline and mkinitrd-ng cfg.runs times,
// alternating them so that changes in the machine's load hit both alike.
// Cases that share a pipeline command share its runs.
func measure(cfg *config, w *workload, names []string) ([]row, error) {
	var rows []row
	pipes := map[string][]sample{}
	for _, name := range names {
		c, _ := lookupCase(name)
		var ours []sample
		for i := range cfg.runs {
			if len(pipes[c.pipeline]) <= i {
				s, err := runPipeline(w, c.pipeline)
				if err != nil {
					return nil, fmt.Errorf("pipeline %q: %w", c.pipeline, err)
				}
				pipes[c.pipeline] = append(pipes[c.pipeline], s)
			}
			s, err := runOurs(cfg, w, c.ours)
			if err != nil {
				return nil, fmt.Errorf("mkinitrd-ng %s: %w", strings.Join(c.ours, " "), err)
			}
			ours = append(ours, s)
			fmt.Fprintf(os.Stderr, "  %s %s run %d: pipeline %.2fs, ours %.2fs\n", w.name, name, i+1,
				pipes[c.pipeline][i].wall.Seconds(), s.wall.Seconds())
		}
		desc := "cp + cpio"
		if c.pipeline != "" {
			desc += " | " + c.pipeline
		}
		rows = append(rows, row{workload: w.name, name: name, files: w.files,
			pipeline: median(pipes[c.pipeline]), ours: median(ours),
			pipeDesc: desc, oursArg: strings.Join(c.ours, " ")})
	}
	return rows, nil
}

// median takes each measure's median on its own.
func median(s []sample) sample {
	pick := func(f func(sample) int64) int64 {
		v := make([]int64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		wall: time.Duration(pick(func(x sample) int64 { return int64(x.wall) })),
		cpu:  time.Duration(pick(func(x sample) int64 { return int64(x.cpu) })),
		size: pick(func(x sample) int64 { return x.size }),
		rss:  pick(func(x sample) int64 { return x.rss }),
	}
}

// runPipeline copies the workload's files into a fresh staging directory
// and archives it as NixOS's make-initrd-ng does; the copy is timed, the
// removal of the staging directory is not.
func runPipeline(w *workload, compressor string) (sample, error) {
	stage := filepath.Join(w.dir, "stage")
	out := filepath.Join(w.dir, "pipeline.out")
	os.RemoveAll(stage)
	if err := os.Mkdir(stage, 0o755); err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(stage)
	defer os.Remove(out)
	comp := "cat"
	if compressor != "" {
		comp = compressor
	}
	// cp 9.1 -a --parents looks up the parents' ACLs relative to the
	// working directory: run it from /, where the sources' paths start.
	script := `set -eo pipefail
cd /
xargs -0 cp -a --parents -t "$STAGE" < "$LIST"
cd "$STAGE"
find . -print0 | LC_ALL=C sort -z | cpio -o -H newc -R +0:+0 --reproducible --null --quiet | ` + comp + ` > "$OUT"`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "STAGE="+stage, "LIST="+w.list, "OUT="+out)
	return timed(cmd, out)
}

// runOurs builds the workload's manifest with mkinitrd-ng.
func runOurs(cfg *config, w *workload, flags []string) (sample, error) {
	out := filepath.Join(w.dir, "ours.out")
	defer os.Remove(out)
	args := append([]string{"-m", w.manifest, "-o", out, "--allow-missing"}, flags...)
	return timed(exec.Command(cfg.bin, args...), out)
}

// timed runs cmd under GNU time and measures its wall time, CPU time and
// peak RSS (the largest of the process and the children it waited for, as
// wait4 reports it), and the size of the output file. GNU time forks the
// command from its own small process: a child forked from this program
// would report this program's RSS as its peak.
func timed(cmd *exec.Cmd, out string) (sample, error) {
	usage := out + ".time"
	defer os.Remove(usage)
	args := append([]string{"-f", "%M %U %S", "-o", usage}, cmd.Args...)
	tcmd := exec.Command(timeCmd, args...)
	tcmd.Env, tcmd.Dir = cmd.Env, cmd.Dir
	var stderr bytes.Buffer
	tcmd.Stderr = &stderr
	start := time.Now()
	err := tcmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%w: %s", err, lastLines(stderr.String(), 5))
	}
	data, err := os.ReadFile(usage)
	if err != nil {
		return sample{}, err
	}
	var rssKB int64
	var user, sys float64
	if _, err := fmt.Sscan(lastLines(string(data), 1), &rssKB, &user, &sys); err != nil {
		return sample{}, fmt.Errorf("%s output %q: %w", timeCmd, data, err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return sample{}, err
	}
	return sample{
		wall: wall,
		cpu:  time.Duration((user + sys) * float64(time.Second)),
		size: fi.Size(),
		rss:  rssKB << 10,
	}, nil
}

// timeCmd is GNU time (Debian package time).
const timeCmd = "/usr/bin/time"

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

func output(name string, args ...string) ([]byte, error) { return exec.Command(name, args...).Output() }

// table formats the rows: times and sizes of both sides and their
// ratios (ours / pipeline), our peak RSS and entries per second.
func table(rows []row) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tcase\tpipeline s\tours s\ttime ratio\tpipeline MB\tours MB\tsize ratio\tours CPU s\tours RSS MiB\tpipeline RSS MiB\tours entries/s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t%.2f\t%.0f\t%.0f\t%.0f\t\n",
			r.workload, r.name, r.pipeline.wall.Seconds(), r.ours.wall.Seconds(),
			r.ours.wall.Seconds()/r.pipeline.wall.Seconds(),
			float64(r.pipeline.size)/1e6, float64(r.ours.size)/1e6,
			float64(r.ours.size)/float64(r.pipeline.size),
			r.ours.cpu.Seconds(), float64(r.ours.rss)/(1<<20), float64(r.pipeline.rss)/(1<<20),
			float64(r.files)/r.ours.wall.Seconds())
	}
	tw.Flush()
	b.WriteString("\ncases (pipeline = cp -a --parents into a staging dir, then find | sort -z | cpio -o -H newc -R +0:+0 --reproducible | compressor):\n")
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.name] {
			seen[r.name] = true
			fmt.Fprintf(&b, "  %-8s pipeline: %-45s ours: mkinitrd-ng %s\n", r.name, r.pipeDesc, r.oursArg)
		}
	}
	return b.String()
}

// presets are the compressor settings doc/cli.md documents, measured on
// the systemd workload.
func presets() [][]string {
	var p [][]string
	for _, c := range []struct {
		name   string
		levels []string
	}{
		{"gzip", []string{"1", "6", "max"}},
		{"gzip-cli", []string{"1", "6", "max"}},
		{"zstd", []string{"1", "3", "7", "max"}},
		{"zstd-cli", []string{"3", "9", "default", "max"}},
		{"xz", []string{"default", "6", "max"}},
		{"xz-cli", []string{"1", "4", "default", "max"}},
		{"lz4", []string{"default", "max"}},
	} {
		for _, l := range c.levels {
			p = append(p, []string{"-c", c.name, "--level", l})
		}
	}
	return p
}

// measurePresets runs each preset cfg.presetRuns times and formats a
// table: median wall and CPU time, size, ratio to the uncompressed
// archive, throughput and peak RSS.
func measurePresets(cfg *config, w *workload) (string, error) {
	none, err := runOurs(cfg, w, []string{"-c", "none"})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "presets on workload %s (%.1f MB of cpio), median of %d run(s):\n", w.name, float64(none.size)/1e6, cfg.presetRuns)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "compressor\tlevel\ts\tCPU s\tMB\tratio\tMB/s\tRSS MiB\t")
	for _, p := range presets() {
		var samples []sample
		for range cfg.presetRuns {
			s, err := runOurs(cfg, w, p)
			if err != nil {
				return "", fmt.Errorf("mkinitrd-ng %s: %w", strings.Join(p, " "), err)
			}
			samples = append(samples, s)
		}
		s := median(samples)
		fmt.Fprintf(os.Stderr, "  preset %s: %.2fs\n", strings.Join(p, " "), s.wall.Seconds())
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.3f\t%.0f\t%.0f\t\n", p[1], p[3], s.wall.Seconds(), s.cpu.Seconds(),
			float64(s.size)/1e6, float64(s.size)/float64(none.size), float64(none.size)/1e6/s.wall.Seconds(), float64(s.rss)/(1<<20))
	}
	tw.Flush()
	return b.String(), nil
}
