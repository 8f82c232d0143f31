package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
)

// diffCommand compares two initrds and, with --fail-over, gates on the
// growth of the compressed size.
func diffCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("diff", "OLD NEW [--json] [--by path|dir|store-path|package] [--fail-over SIZE|PCT]", stderr)
	asJSON := fl.Bool("json", false, "print the differences as JSON")
	by := fl.String("by", "path", "`KEY`: path lists the entries; dir (first two path components), store-path or package (Debian) sums them by group")
	failOver := fl.String("fail-over", "", "exit 1 if the compressed size grows by more than `LIMIT` (bytes, 500K, 1M, or a percentage such as 5%)")
	dpkgDir := fl.String("dpkg-db", "/var/lib/dpkg", "dpkg database `DIR` for --by package")
	rest, code, done := parseSub(fl, args, 2, stderr)
	if done {
		return code
	}
	if rest[0] == "-" && rest[1] == "-" {
		fmt.Fprintf(stderr, "%s: only one image can come from standard input\n", fl.Name())
		return exitUsage
	}
	var limit inspect.Limit
	if *failOver != "" {
		var err error
		if limit, err = inspect.ParseLimit(*failOver); err != nil {
			fmt.Fprintf(stderr, "%s: --fail-over: %v\n", fl.Name(), err)
			return exitUsage
		}
	}
	var group inspect.Grouping
	switch *by {
	case "path":
	case "dir":
		group = inspect.ByDir
	case "store-path":
		group = inspect.ByStorePath
	case "package":
		pkgs, err := inspect.ReadPackages(*dpkgDir)
		if err != nil {
			return failed(fl, stderr, err)
		}
		group = pkgs.Grouping()
	default:
		fmt.Fprintf(stderr, "%s: --by %q: want path, dir, store-path or package\n", fl.Name(), *by)
		return exitUsage
	}

	// The two images are independent: read them at once.
	var imgs [2]*inspect.Image
	var errs [2]error
	var wg sync.WaitGroup
	for i := range imgs {
		wg.Go(func() { imgs[i], errs[i] = readImage(rest[i], stdin) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return failed(fl, stderr, err)
		}
	}
	d := inspect.Compare(imgs[0], imgs[1], rest[0], rest[1], *by, group)
	var err error
	if *asJSON {
		err = writeJSON(stdout, d)
	} else {
		err = d.WriteText(stdout)
	}
	if err != nil {
		return failed(fl, stderr, err)
	}
	if *failOver != "" && limit.Exceeded(d.Old.Size, d.New.Size) {
		fmt.Fprintf(stderr, "%s: size check failed: the compressed image grew by %d bytes (%d -> %d), over the limit of %s\n",
			fl.Name(), d.CompressedDelta, d.Old.Size, d.New.Size, limit)
		return exitBuild
	}
	return exitOK
}
