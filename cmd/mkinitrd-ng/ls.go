package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
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
func failed(fl *pflag.FlagSet, stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
	return exitBuild
}

// lsCommand lists the entries of any initrd.
func lsCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("ls", "IMAGE [--json] [-l]  (IMAGE - reads standard input)", stderr)
	asJSON := fl.Bool("json", false, "print the segments and entries as JSON")
	long := fl.BoolP("long", "l", false, "print type, mode, owner, size, segment and link target of each entry")
	rest, code, done := parseSub(fl, args, 1, stderr)
	if done {
		return code
	}
	img, err := readImage(rest[0], stdin)
	if err != nil {
		return failed(fl, stderr, err)
	}
	switch {
	case *asJSON:
		err = writeJSON(stdout, img)
	case *long:
		err = inspect.WriteLongList(stdout, img)
	default:
		err = inspect.WriteList(stdout, img)
	}
	if err != nil {
		return failed(fl, stderr, err)
	}
	return exitOK
}

// readImage reads an image from a file or, for "-", standard input.
func readImage(name string, stdin io.Reader) (*inspect.Image, error) {
	if name != "-" {
		return inspect.ReadFile(name)
	}
	img, err := inspect.Read(stdin)
	if err != nil {
		return nil, fmt.Errorf("<stdin>: %w", err)
	}
	return img, nil
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
