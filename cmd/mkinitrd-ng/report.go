package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/atomicfile"
	sizereport "github.com/mkinitrd-ng/mkinitrd-ng/report"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// reportJob is what a report command was asked for.
type reportJob struct {
	cfg            config // --manifest, --root, --kernel-version, --allow-missing, -o, --quiet
	by, format     string
	dpkgDir        string
	images         []string
	closure        *resolve.Closure // with --manifest
	stdin          io.Reader
	stdout, stderr io.Writer
}

// reportCommand draws the size picture of an image, or of what changed
// between two, as HTML, SVG or JSON.
func reportCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("report", "IMAGE [NEW] -o FILE [--manifest FILE] [--by dir|store-path|package|manifest-item] [--format html|svg|json]", stderr)
	j := &reportJob{stdin: stdin, stdout: stdout, stderr: stderr}
	fl.StringVarP(&j.cfg.output, "output", "o", "", "write the report to `FILE` (- for standard output)")
	fl.StringVar(&j.format, "format", "html", "`FORMAT`: html (one self-contained page), svg (the picture alone) or json (the data)")
	fl.StringVar(&j.by, "by", "", "group by `KEY`: dir, store-path, package or manifest-item (default: manifest-item with --manifest, else dir)")
	fl.StringVarP(&j.cfg.manifest, "manifest", "m", "", "the manifest `FILE` the image was built from: says why each file is there, and groups by manifest item")
	fl.StringVar(&j.cfg.root, "root", "", "read the manifest's sources from `DIR` (default: the manifest's root, else /)")
	fl.StringVar(&j.cfg.kernelVersion, "kernel-version", "", "kernel `VERSION` whose modules the manifest includes")
	fl.BoolVar(&j.cfg.allowMissing, "allow-missing", false, "warn about libraries that cannot be found instead of failing")
	fl.StringVar(&j.dpkgDir, "dpkg-db", "/var/lib/dpkg", "dpkg database `DIR` for --by package")
	fl.BoolVarP(&j.cfg.quiet, "quiet", "q", false, "show no progress line (a terminal shows one while images that take over a second are read)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return exitUsage
	}
	if fl.NArg() < 1 || fl.NArg() > 2 || j.cfg.output == "" || fl.NArg() == 2 && fl.Arg(0) == "-" && fl.Arg(1) == "-" {
		fmt.Fprintf(stderr, "%s: want IMAGE or OLD NEW (one at most from standard input), and -o FILE\n", fl.Name())
		fl.Usage()
		return exitUsage
	}
	j.images = fl.Args()
	if err := j.run(); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
			return exitUsage
		}
		return failed(fl, stderr, err)
	}
	return exitOK
}

// run makes the report and writes it.
func (j *reportJob) run() error {
	if j.by == "" {
		j.by = "dir"
		if j.cfg.manifest != "" {
			j.by = "manifest-item"
		}
	}
	write, err := reportWriter(j.format)
	if err != nil {
		return err
	}
	if err := j.resolve(); err != nil {
		return err
	}
	group, err := j.grouping()
	if err != nil {
		return err
	}
	r, err := j.report(group)
	if err != nil {
		return err
	}
	return j.write(func(w io.Writer) error { return write(w, r) })
}

// reportWriter returns the writer of a --format.
func reportWriter(format string) (func(io.Writer, *inspect.Report) error, error) {
	switch format {
	case "html":
		return sizereport.WriteHTML, nil
	case "svg":
		return sizereport.WriteSVG, nil
	case "json":
		return func(w io.Writer, r *inspect.Report) error { return writeJSON(w, r) }, nil
	}
	return nil, usageError{fmt.Errorf("--format %q: want html, svg or json", format)}
}

// resolve resolves the manifest, when one is given, for the why chains.
func (j *reportJob) resolve() error {
	if j.cfg.manifest == "" {
		if j.by == "manifest-item" {
			return usageError{errors.New("--by manifest-item needs --manifest")}
		}
		return nil
	}
	opts, err := options(&j.cfg)
	if err != nil {
		return err
	}
	m, err := readManifest(j.cfg.manifest, j.stdin)
	if err != nil {
		return err
	}
	j.closure, err = mkinitrd.Resolve(m, opts)
	return err
}

// grouping returns the grouping --by names.
func (j *reportJob) grouping() (inspect.Grouping, error) {
	if j.by == "manifest-item" {
		return func(e *inspect.Entry) string { return manifestItem(j.closure.Chain(e.Path)) }, nil
	}
	group, err := grouping(j.by, j.dpkgDir)
	if errors.Is(err, errBadBy) || err == nil && group == nil {
		return nil, usageError{fmt.Errorf("--by %q: want dir, store-path, package or manifest-item", j.by)}
	}
	return group, err
}

// manifestItem names the manifest item at the end of a why chain: the
// reason of its last step ("/init: manifest contents[0] (/init)" gives
// "contents[0] (/init)").
func manifestItem(chain []string) string {
	if len(chain) == 0 {
		return "(not from the manifest)"
	}
	_, reason, _ := strings.Cut(chain[len(chain)-1], ": ")
	return strings.TrimPrefix(reason, "manifest ")
}

// report reads the images and makes the report.
func (j *reportJob) report(group inspect.Grouping) (*inspect.Report, error) {
	var why inspect.Explainer
	if j.closure != nil {
		why = j.closure.Chain
	}
	progress, stderr, stop := showReadProgress(j.cfg.quiet, "mkinitrd-ng report: reading", imagesSize(j.images...), j.stderr)
	defer stop()
	j.stderr = stderr
	imgs := make([]*inspect.Image, len(j.images))
	for i, name := range j.images {
		in, err := openImage(name, j.stdin)
		if err != nil {
			return nil, err
		}
		imgs[i], err = inspect.Read(progress.wrap(in))
		in.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", imageName(name), err)
		}
	}
	stop()
	if len(imgs) == 1 {
		return inspect.NewReport(imgs[0], imageName(j.images[0]), j.by, group, why), nil
	}
	return inspect.NewDiffReport(imgs[0], imgs[1], imageName(j.images[0]), imageName(j.images[1]), j.by, group, why), nil
}

// write writes the report to -o, a file replaced atomically, or to
// standard output.
func (j *reportJob) write(write func(io.Writer) error) error {
	if j.cfg.output == "-" {
		bw := bufio.NewWriter(j.stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := atomicfile.Create(j.cfg.output, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return fmt.Errorf("%s: %w", j.cfg.output, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", j.cfg.output, err)
	}
	return f.Commit()
}
