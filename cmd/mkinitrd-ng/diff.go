package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
)

// diffCommand compares two initrds and, with --fail-over, gates on the
// growth of the compressed size.
func diffCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("diff", "OLD NEW [--format text|json|markdown] [--by path|dir|store-path|package] [--fail-over SIZE|PCT]", stderr)
	asJSON := fl.Bool("json", false, "print the differences as JSON (as --format json)")
	format := fl.String("format", "text", "output `FORMAT`: text, json (stable, for programs) or markdown (a summary for a CI job or pull request)")
	by := fl.String("by", "path", "group by `KEY`: path lists the entries; dir (first two path components), store-path or package (Debian) sums them by group")
	failOver := fl.String("fail-over", "", "exit 1 if the compressed size grows by more than `LIMIT` (bytes, 500K, 1M, or a percentage such as 5%)")
	dpkgDir := fl.String("dpkg-db", "/var/lib/dpkg", "dpkg database `DIR` for --by package")
	quiet := fl.BoolP("quiet", "q", false, "show no progress line (a terminal shows one while images that take over a second are read)")
	rest, code, done := parseSub(fl, args, 2, stderr)
	if done {
		return code
	}
	if rest[0] == "-" && rest[1] == "-" {
		fmt.Fprintf(stderr, "%s: only one image can come from standard input\n", fl.Name())
		return exitUsage
	}
	write, err := diffWriter(*format, *asJSON, fl.Changed("format"))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return exitUsage
	}
	var limit inspect.Limit
	if *failOver != "" {
		if limit, err = inspect.ParseLimit(*failOver); err != nil {
			fmt.Fprintf(stderr, "%s: --fail-over: %v\n", fl.Name(), err)
			return exitUsage
		}
	}
	group, err := grouping(*by, *dpkgDir)
	if errors.Is(err, errBadBy) {
		fmt.Fprintf(stderr, "%s: --by %q: want path, dir, store-path or package\n", fl.Name(), *by)
		return exitUsage
	}
	if err != nil {
		return failed(fl, stderr, err)
	}
	open, closeAll := openers(rest, stdin)
	defer closeAll()
	progress, stderr, stop := showReadProgress(*quiet, "mkinitrd-ng diff: reading the images", imagesSize(rest...), stderr)
	defer stop()
	d, err := inspect.CompareStreams(progress.opener(open[0]), progress.opener(open[1]), imageName(rest[0]), imageName(rest[1]), *by, group)
	stop() // before the output, which may go to the same terminal
	if err != nil {
		return failed(fl, stderr, err)
	}
	if err := write(d, stdout); err != nil {
		return failed(fl, stderr, err)
	}
	if *failOver != "" && limit.Exceeded(d.Old.Size, d.New.Size) {
		fmt.Fprintf(stderr, "%s: size check failed: the compressed image grew by %d bytes (%d -> %d), over the limit of %s\n",
			fl.Name(), d.CompressedDelta, d.Old.Size, d.New.Size, limit)
		return exitBuild
	}
	return exitOK
}

// diffWriter returns what writes a diff in the format --format names;
// --json is --format json, and contradicting --format is an error.
func diffWriter(format string, asJSON, formatGiven bool) (func(*inspect.Diff, io.Writer) error, error) {
	if asJSON {
		if formatGiven && format != "json" {
			return nil, fmt.Errorf("--json and --format %s contradict each other", format)
		}
		format = "json"
	}
	switch format {
	case "text":
		return (*inspect.Diff).WriteText, nil
	case "markdown":
		return (*inspect.Diff).WriteMarkdown, nil
	case "json":
		return func(d *inspect.Diff, w io.Writer) error { return writeJSON(w, d) }, nil
	}
	return nil, fmt.Errorf("--format %q: want text, json or markdown", format)
}

// errBadBy is the error for a --by that names no grouping.
var errBadBy = errors.New("no such grouping")

// grouping returns the grouping --by names: nil for path.
func grouping(by, dpkgDir string) (inspect.Grouping, error) {
	switch by {
	case "path":
		return nil, nil
	case "dir":
		return inspect.ByDir, nil
	case "store-path":
		return inspect.ByStorePath, nil
	case "package":
		pkgs, err := inspect.ReadPackages(dpkgDir)
		if err != nil {
			return nil, err
		}
		return pkgs.Grouping(), nil
	}
	return nil, errBadBy
}

// openers returns the openers of the images named on the command line,
// "-" for standard input, and what closes them.
func openers(names []string, stdin io.Reader) (open [2]inspect.Opener, closeAll func()) {
	var spool *stdinSpool
	for i, name := range names {
		if name == "-" {
			spool = &stdinSpool{in: stdin}
			open[i] = spool.open
		} else {
			open[i] = func() (io.ReadCloser, error) { return os.Open(name) }
		}
	}
	return open, func() {
		if spool != nil {
			spool.close()
		}
	}
}

// stdinSpool lets inspect.CompareStreams read an image on standard input
// twice, which it does when the image is not sorted by path: what the
// first reading takes is copied to an unlinked temporary file, and a
// second reading gets the copy, then the rest of the input. Unlinked at
// once, the copy goes away with the process, however it ends.
type stdinSpool struct {
	in    io.Reader
	tmp   *os.File
	opens int
	err   error // why there is no copy
}

func (s *stdinSpool) open() (io.ReadCloser, error) {
	s.opens++
	if s.opens == 1 {
		if s.tmp, s.err = os.CreateTemp("", "mkinitrd-ng-diff-*"); s.err != nil {
			return io.NopCloser(s.in), nil // readable once still
		}
		os.Remove(s.tmp.Name())
	}
	if s.tmp == nil {
		return nil, fmt.Errorf("<stdin>: the image must be read again, and no copy of it could be made: %w", s.err)
	}
	size, err := s.tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("<stdin>: copy: %w", err)
	}
	return io.NopCloser(io.MultiReader(io.NewSectionReader(s.tmp, 0, size), io.TeeReader(s.in, s.tmp))), nil
}

func (s *stdinSpool) close() {
	if s.tmp != nil {
		s.tmp.Close()
	}
}
