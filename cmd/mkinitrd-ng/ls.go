package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/liveline"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/sink"
)

// subFlags returns a flag set for a subcommand with its usage line.
func subFlags(name, usage string, stderr io.Writer) *pflag.FlagSet {
	fl := pflag.NewFlagSet("mkinitrd-ng "+name, pflag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.SortFlags = false
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mkinitrd-ng %s %s\n\nOptions:\n%s", name, usage, fl.FlagUsages())
	}
	return fl
}

// parseSub parses a subcommand's arguments; done is true when the
// command should return code at once (help, or a usage error).
func parseSub(fl *pflag.FlagSet, args []string, nargs int, stderr io.Writer) (rest []string, code int, done bool) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, exitOK, true
		}
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return nil, exitUsage, true
	}
	if fl.NArg() != nargs {
		fmt.Fprintf(stderr, "%s: want %d %s, got %d\n", fl.Name(), nargs, map[bool]string{true: "argument", false: "arguments"}[nargs == 1], fl.NArg())
		fl.Usage()
		return nil, exitUsage, true
	}
	return fl.Args(), 0, false
}

// failed prints err as the subcommand's error and returns exitBuild.
// Each line is escaped as listings are: the names an error quotes may
// come from an untrusted image or root.
func failed(fl *pflag.FlagSet, stderr io.Writer, err error) int {
	lines := strings.Split(err.Error(), "\n")
	for i := range lines {
		lines[i] = inspect.Escape(lines[i])
	}
	fmt.Fprintf(stderr, "%s: %s\n", fl.Name(), strings.Join(lines, "\n"))
	return exitBuild
}

// lsCommand lists the entries of any initrd. The listings print each
// entry as it is read; --json holds the entries, packed, until the
// segments that come first are known.
func lsCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("ls", "IMAGE [--json] [-l]  (IMAGE - reads standard input)", stderr)
	asJSON := fl.Bool("json", false, "print the segments and entries as JSON")
	long := fl.BoolP("long", "l", false, "print type, mode, owner, size, segment and link target of each entry")
	quiet := fl.BoolP("quiet", "q", false, "show no progress line (a terminal shows one when the listing goes elsewhere and takes over a second)")
	rest, code, done := parseSub(fl, args, 1, stderr)
	if done {
		return code
	}
	in, err := openImage(rest[0], stdin)
	if err != nil {
		return failed(fl, stderr, err)
	}
	defer in.Close()
	// A listing on the terminal shows its own progress.
	_, listingShown := liveline.Terminal(stdout)
	progress, stderr, stop := showReadProgress(*quiet || listingShown, "mkinitrd-ng ls: reading "+imageName(rest[0]), imagesSize(rest[0]), stderr)
	defer stop()
	in = progress.wrap(in)
	out := &sink.Writer{W: stdout} // its error is the output's, not the image's
	switch {
	case *asJSON:
		err = inspect.WriteJSON(out, inspect.NewReader(in))
	case *long:
		err = inspect.WriteLongList(out, inspect.NewReader(in))
	default:
		err = inspect.WriteList(out, inspect.NewReader(in))
	}
	if err != nil {
		if out.Err() == nil {
			err = fmt.Errorf("%s: %w", imageName(rest[0]), err)
		}
		return failed(fl, stderr, err)
	}
	return exitOK
}

// openImage opens an image file or, for "-", standard input.
func openImage(name string, stdin io.Reader) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(stdin), nil
	}
	return os.Open(name)
}

// imageName is how errors name an image argument.
func imageName(arg string) string {
	if arg == "-" {
		return "<stdin>"
	}
	return arg
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return bw.Flush()
}
