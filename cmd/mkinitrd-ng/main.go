// Command mkinitrd-ng builds a minimal, reproducible initrd from a JSON
// manifest. It only parses flags and wires the mkinitrd packages; see
// doc/manifest.md for the manifest format.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// Exit statuses.
const (
	exitOK    = 0
	exitBuild = 1
	exitUsage = 2
)

// usageError marks errors in how the command was called (exit status 2).
type usageError struct{ error }

// memoryLimit is the Go heap size the garbage collector aims to stay
// under, unless $GOMEMLIMIT says otherwise, plus memoryPerEntry for each
// manifest entry. A build streams: what is live is the packed closure and
// the compressors' bounded buffers, and without a limit the collector lets
// the garbage of resolving double the heap before it runs. The allowance
// per entry keeps a huge manifest's live closure under the limit, where
// the collector would otherwise run without pause. It is a soft limit: a
// build that needs more still gets it. doc/performance.md has the
// figures.
const (
	memoryLimit    = 34 << 20
	memoryPerEntry = 1 << 10
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// limitMemory sets the soft heap limit for a build of m.
func limitMemory(m *resolve.Manifest) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit + int64(len(m.Contents))*memoryPerEntry)
	}
}

type config struct {
	manifest, output, compress, root, epoch string
	kernelVersion                           string
	jobs                                    int
	level                                   string
	segmentSize                             string
	dryRun, verbose, version, allowMissing  bool
	stats                                   string // --stats FILE (spec.go)
	printSpec                               bool   // --print-spec (spec.go)
	strict                                  bool
	quiet                                   bool   // --quiet (progress.go)
	cache, cacheMax                         string // --cache DIR, --cache-max SIZE (cache.go)
}

func newFlags(cfg *config, stderr io.Writer) *pflag.FlagSet {
	fl := pflag.NewFlagSet("mkinitrd-ng", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVarP(&cfg.manifest, "manifest", "m", "", "manifest `FILE` (JSON; - reads standard input)")
	fl.StringVarP(&cfg.output, "output", "o", "", "output `FILE` (- writes standard output; a directory gets initrd.img-VERSION, see --kernel-version)")
	fl.StringVarP(&cfg.compress, "compress", "c", "", compressorHelp(append(compressors.Names(), compressors.CLINames()...), " (default: the manifest's, else zstd, or gzip for a kernel without CONFIG_RD_ZSTD)"))
	fl.StringVar(&cfg.level, "level", "", "compression `LEVEL`: a number, or max for the smallest bootable output (default: the compressor's)")
	fl.StringVar(&cfg.root, "root", "", "read sources from `DIR` as if chrooted into it (default: the manifest's root, else /)")
	fl.StringVar(&cfg.kernelVersion, "kernel-version", "", "kernel `VERSION` whose modules are included (default: the newest under <root>/lib/modules)")
	fl.StringVar(&cfg.epoch, "source-date-epoch", "", "mtime of every entry, in seconds (default: $SOURCE_DATE_EPOCH, else 0)")
	fl.IntVarP(&cfg.jobs, "jobs", "j", 0, "files analysed and segments compressed at once (default: number of CPUs)")
	fl.StringVar(&cfg.segmentSize, "segment-size", "", "compress in independent segments of about `SIZE` bytes (K, M, G suffixes; default 8M); the output depends on it")
	fl.StringVar(&cfg.cache, "cache", "", "keep compressed segments in `DIR` and copy those it holds instead of compressing them again (the output is the same)")
	fl.StringVar(&cfg.cacheMax, "cache-max", "", "evict the least recently used segments beyond `SIZE` bytes of --cache (K, M, G, T suffixes; default 1G)")
	fl.BoolVar(&cfg.allowMissing, "allow-missing", false, "warn about libraries that cannot be found instead of failing")
	fl.BoolVar(&cfg.strict, "strict", false, "treat warnings as errors (for CI); nothing is written")
	fl.BoolVarP(&cfg.dryRun, "dry-run", "n", false, "resolve and print the entries without writing")
	fl.BoolVarP(&cfg.verbose, "verbose", "v", false, "say what is done and why each entry is included")
	fl.BoolVarP(&cfg.quiet, "quiet", "q", false, "show no progress line (a terminal shows one for builds longer than a second)")
	fl.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fl.StringVar(&cfg.stats, "stats", "", "write build statistics as JSON to `FILE` (- writes standard output; doc/cli.md lists the fields)")
	fl.BoolVar(&cfg.printSpec, "print-spec", false, "print the entries as a gen_init_cpio spec instead of building")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mkinitrd-ng --manifest FILE --output FILE [options]\n"+
			"       mkinitrd-ng ls|diff|why|spec|host|uki|report|completion ... (mkinitrd-ng COMMAND --help)\n\nOptions:\n%s", fl.FlagUsages())
	}
	return fl
}

// compressorHelp is the help of a --compress flag that takes the names,
// or an external command; more follows it.
func compressorHelp(names []string, more string) string {
	return "compressor: " + strings.Join(names, ", ") + ", or '" + compressors.CmdPrefix + "COMMAND ARGS'" + more
}

// command is a subcommand: it gets the arguments after its name and
// returns the exit status.
type command func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

// subcommand returns the command a first argument names, or nil: then
// the arguments are the build command's flags.
func subcommand(name string) command {
	switch name {
	case "ls":
		return lsCommand
	case "diff":
		return diffCommand
	case "why":
		return whyCommand
	case "spec":
		return specCommand
	case "host":
		return hostCommand
	case "uki":
		return ukiCommand
	case "completion":
		return completionCommand
	case "report":
		return reportCommand
	}
	return nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if sub := subcommand(args[0]); sub != nil {
			return sub(args[1:], stdin, stdout, stderr)
		}
	}
	var cfg config
	fl := newFlags(&cfg, stderr)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "mkinitrd-ng: %v\n", err)
		return exitUsage
	}
	err := flagged(build(&cfg, fl.Args(), stdin, stdout, stderr))
	var ue usageError
	var se stoppedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "mkinitrd-ng: %v\n", err)
		return se.exitCode()
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mkinitrd-ng: %v\n", err)
		fmt.Fprintln(stderr, "Try 'mkinitrd-ng --help'.")
		return exitUsage
	default:
		fmt.Fprintf(stderr, "mkinitrd-ng: %v\n", err)
		return exitBuild
	}
}

// flagged puts the flag that made err an error in front of it.
func flagged(err error) error {
	var we *mkinitrd.WarningsError
	if errors.As(err, &we) {
		return fmt.Errorf("--strict: %w", err)
	}
	return err
}

func build(cfg *config, rest []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if cfg.version {
		fmt.Fprintln(stdout, "mkinitrd-ng", version())
		return nil
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", rest[0])}
	}
	if cfg.manifest == "" {
		return usageError{errors.New("--manifest is required")}
	}
	if cfg.output == "" && !cfg.dryRun && !cfg.printSpec {
		return usageError{errors.New("--output is required (or --dry-run)")}
	}
	opts, err := options(cfg)
	if err != nil {
		return err
	}
	warnJobs(cfg.jobs, stderr)
	m, manifestInfo, err := readManifestInfo(cfg.manifest, stdin)
	if err != nil {
		return err
	}
	limitMemory(m)
	if opts.Compressor, err = selectCompressor(m, opts, cfg.verbose, stderr); err != nil {
		return usageError{err}
	}
	if cfg.stats != "" && (cfg.dryRun || cfg.printSpec) {
		return usageError{errors.New("--stats needs a build (not --dry-run or --print-spec)")}
	}
	if cfg.stats == "-" && cfg.output == "-" {
		return usageError{errors.New("--stats - and --output - cannot both write standard output")}
	}
	if cfg.printSpec {
		return printSpec(cfg, m, opts, stdout, stderr)
	}
	if cfg.dryRun {
		return dryRun(m, opts, cfg.verbose, stdout, stderr)
	}
	if cfg.output, err = outputPath(cfg.output, cfg.kernelVersion); err != nil {
		return err
	}
	if opts.Outputs, err = checkOutputs(cfg, manifestInfo); err != nil {
		return err
	}
	stderr, stop := showBuildProgress(cfg.quiet, &opts, stderr)
	defer stop()
	return writeOutput(cfg, m, opts, stdout, stderr)
}

// outputPath returns the file to write: output itself or, when output
// is a directory (existing, or written with a trailing slash), the file
// initrd.img-VERSION in it, the name Debian's boot loader scripts look
// for. Naming it needs the kernel version.
func outputPath(output, kernelVersion string) (string, error) {
	if output == "-" {
		return output, nil
	}
	fi, err := os.Stat(output)
	if !(err == nil && fi.IsDir()) && !strings.HasSuffix(output, "/") {
		return output, nil
	}
	if kernelVersion == "" {
		return "", usageError{fmt.Errorf("--output %s is a directory: --kernel-version is needed to name the image initrd.img-VERSION in it", output)}
	}
	return filepath.Join(output, "initrd.img-"+kernelVersion), nil
}

// options turns the flags into build options. A --jobs above
// compressors.MaxJobs is capped (see warnJobs).
func options(cfg *config) (mkinitrd.Options, error) {
	opts := mkinitrd.Options{Root: cfg.root, Jobs: min(cfg.jobs, compressors.MaxJobs()), AllowMissing: cfg.allowMissing,
		KernelVersion: cfg.kernelVersion, Strict: cfg.strict}
	if cfg.jobs < 0 {
		return opts, usageError{fmt.Errorf("--jobs %d: must be 0 or more", cfg.jobs)}
	}
	if cfg.segmentSize != "" {
		n, err := compressors.ParseSize(cfg.segmentSize)
		if err != nil {
			return opts, usageError{fmt.Errorf("--segment-size: %w", err)}
		}
		opts.SegmentSize = n
	}
	var err error
	if opts.Cache, err = openCache(cfg); err != nil {
		return opts, err
	}
	// The version names a directory under /lib/modules and a file name.
	if v := cfg.kernelVersion; v == "." || v == ".." || strings.ContainsAny(v, "/\x00") {
		return opts, usageError{fmt.Errorf("--kernel-version %q: not a kernel version", v)}
	}
	if err := compressor(cfg, &opts); err != nil {
		return opts, err
	}
	epoch := cfg.epoch
	what := "--source-date-epoch"
	if epoch == "" {
		epoch, what = os.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH"
	}
	if epoch != "" {
		t, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || t < 0 || t > 0xffffffff {
			return opts, usageError{fmt.Errorf("%s %q: not a number of seconds between 0 and 4294967295", what, epoch)}
		}
		opts.MTime = t
	}
	return opts, nil
}

// compressor sets the compressor of --compress at --level or, without
// --compress, the level for the manifest's compressor.
func compressor(cfg *config, opts *mkinitrd.Options) error {
	level, err := compressors.ParseLevel(cfg.level)
	if err != nil {
		return usageError{fmt.Errorf("--level: %w", err)}
	}
	if cfg.compress == "" {
		opts.Level = resolve.Level(cfg.level)
		return nil
	}
	if opts.Compressor, err = compressors.Lookup(cfg.compress, level); err != nil {
		return usageError{err}
	}
	return nil
}

// warnJobs warns that a --jobs above compressors.MaxJobs is capped: more
// jobs only hold more memory.
func warnJobs(jobs int, stderr io.Writer) {
	if limit := compressors.MaxJobs(); jobs > limit {
		fmt.Fprintf(stderr, "warning: --jobs %d: capped at %d (4 per CPU, at most 256)\n", jobs, limit)
	}
}

// readManifest reads and parses the manifest ("-": standard input).
func readManifest(name string, stdin io.Reader) (*resolve.Manifest, error) {
	m, _, err := readManifestInfo(name, stdin)
	return m, err
}

// readManifestInfo is readManifest that also returns what the manifest
// file is, when it is one, so that no output replaces it.
func readManifestInfo(name string, stdin io.Reader) (*resolve.Manifest, os.FileInfo, error) {
	r, origin := stdin, "<stdin>"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		r, origin = f, name
	}
	var info os.FileInfo
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			info = fi
		}
	}
	// ParseManifest bounds the size; one byte more lets it say so.
	data, err := io.ReadAll(io.LimitReader(r, resolve.MaxManifestSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", origin, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("%s: empty manifest: want a JSON object, or a list of entries", origin)
	}
	m, err := resolve.ParseManifest(bytes.NewReader(data), origin)
	return m, info, err
}

// dryRun prints the entries of the closure; an error writing them is
// the command's error.
func dryRun(m *resolve.Manifest, opts mkinitrd.Options, verbose bool, stdout, stderr io.Writer) error {
	c, err := mkinitrd.Resolve(m, opts)
	if err != nil {
		return err
	}
	warn(c, stderr)
	bw := bufio.NewWriter(stdout)
	for _, s := range c.Early {
		if s.Archive != "" {
			printLine(bw, fmt.Sprintf("prepend %s (%d bytes)", s.Archive, s.Size), "archive before the main one (manifest)", verbose)
		}
		for i := range s.Entries {
			printLine(bw, s.Entries[i].String(), s.Entries[i].Why, verbose)
		}
	}
	for i := range c.Entries {
		printLine(bw, c.Entries[i].String(), c.Entries[i].Why, verbose)
	}
	return bw.Flush()
}

// printLine prints a line of --dry-run, and with verbose the reason.
func printLine(w io.Writer, line, why string, verbose bool) {
	if verbose {
		fmt.Fprintf(w, "%s\t# %s\n", line, why)
	} else {
		fmt.Fprintln(w, line)
	}
}

func warn(c *resolve.Closure, stderr io.Writer) {
	for _, w := range c.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
}

func report(cfg *config, res *mkinitrd.Result, stderr io.Writer) {
	warn(res.Closure, stderr)
	reportCache(cfg, res, stderr)
	if !cfg.verbose {
		return
	}
	fmt.Fprintf(stderr, "%d entries, %d bytes of cpio, %d bytes written (%s); resolve %v, archive+compress %v\n",
		len(res.Closure.Entries), res.Uncompressed, res.Written, res.Compressor,
		res.ResolveTime.Round(1e6), res.ArchiveTime.Round(1e6))
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	return versionString(info, ok, releaseVersion)
}
