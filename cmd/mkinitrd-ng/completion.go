package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/fragments"
)

// completionCommand prints a completion script for bash, zsh or fish.
// The scripts are generated from the flag sets the commands parse with,
// so that they list what this binary accepts.
func completionCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("completion", "bash|zsh|fish", stderr)
	rest, code, done := parseSub(fl, args, 1, stderr)
	if done {
		return code
	}
	write := map[string]func(io.Writer, []cmdSpec) error{"bash": writeBash, "zsh": writeZsh, "fish": writeFish}[rest[0]]
	if write == nil {
		fmt.Fprintf(stderr, "%s: %q: want bash, zsh or fish\n", fl.Name(), rest[0])
		return exitUsage
	}
	specs, err := completionSpecs()
	if err == nil {
		err = write(stdout, specs)
	}
	if err != nil {
		return failed(fl, stderr, err)
	}
	return exitOK
}

// valueKind is what a flag's value or a positional argument completes to.
type valueKind int

const (
	valueNone    valueKind = iota // anything: nothing is offered
	valueFile                     // a file name
	valueDir                      // a directory name
	valueWords                    // one of a fixed list of words
	valueKernel                   // an installed kernel version
	valueNoValue                  // the flag takes no value
)

// flagSpec is one flag, as the completion scripts need it.
type flagSpec struct {
	long, short string
	help        string // the first clause of the flag's help
	kind        valueKind
	words       []string // for valueWords
}

// cmdSpec is a command: the build (name "") or a subcommand.
type cmdSpec struct {
	name, help string
	flags      []flagSpec
	args       valueKind // its positional arguments
	words      []string  // for args valueWords
}

// commandInfo describes a subcommand: what it does in a line, and what
// its positional arguments are.
type commandInfo struct {
	name, help string
	args       valueKind
	words      []string
}

// subcommandInfo lists the subcommands of the switch in subcommand, in
// the order help shows them.
func subcommandInfo() []commandInfo {
	return []commandInfo{
		{"ls", "list the entries of an initrd", valueFile, nil},
		{"diff", "compare two initrds", valueFile, nil},
		{"why", "say why a path is in the initrd", valueFile, nil},
		{"spec", "build an archive from a gen_init_cpio spec", valueFile, nil},
		{"host", "propose a manifest for this machine", valueNone, nil},
		{"uki", "assemble a unified kernel image", valueNone, nil},
		{"report", "draw the sizes of an initrd, or of a diff, as HTML or SVG", valueFile, nil},
		{"completion", "print a shell completion script", valueWords, []string{"bash", "zsh", "fish"}},
	}
}

// completionSpecs reads the flags of the build and of each subcommand
// from their --help, which pflag writes from the flag set itself.
func completionSpecs() ([]cmdSpec, error) {
	build, err := helpFlags("", func(stderr io.Writer) { run([]string{"--help"}, nil, io.Discard, stderr) })
	if err != nil {
		return nil, err
	}
	specs := []cmdSpec{{name: "", help: "build an initrd", flags: build, args: valueNone}}
	for _, c := range subcommandInfo() {
		sub := subcommand(c.name)
		if sub == nil {
			return nil, fmt.Errorf("completion: no command %q", c.name)
		}
		flags, err := helpFlags(c.name, func(stderr io.Writer) { sub([]string{"--help"}, nil, io.Discard, stderr) })
		if err != nil {
			return nil, err
		}
		specs = append(specs, cmdSpec{name: c.name, help: c.help, flags: flags, args: c.args, words: c.words})
	}
	return specs, nil
}

// helpFlags runs a command's --help and reads its flags from it.
func helpFlags(cmd string, help func(stderr io.Writer)) ([]flagSpec, error) {
	var out bytes.Buffer
	help(&out)
	if !strings.HasPrefix(out.String(), "Usage: ") {
		return nil, fmt.Errorf("completion: the help of %q is not pflag's: %q", cmd, out.String())
	}
	flags := parseFlagUsages(cmd, out.String())
	return append(flags, flagSpec{long: "help", short: "h", help: "print the options and exit", kind: valueNoValue}), nil
}

// parseFlagUsages reads the flag lines of pflag's FlagUsages: "  -o,
// --output FILE   help" or "      --json   help", the name and the value
// placeholder separated from the help by at least two spaces.
func parseFlagUsages(cmd, usage string) []flagSpec {
	var flags []flagSpec
	for _, line := range strings.Split(usage, "\n") {
		line = strings.TrimLeft(line, " ")
		if !strings.HasPrefix(line, "-") {
			continue
		}
		head, help, _ := strings.Cut(line, "  ")
		var f flagSpec
		if short, rest, ok := strings.Cut(head, ", "); ok && len(short) == 2 {
			f.short, head = short[1:], rest
		}
		name, placeholder, _ := strings.Cut(head, " ")
		f.long = strings.TrimPrefix(name, "--")
		f.help = firstClause(help)
		f.kind, f.words = flagValue(cmd, f.long, placeholder)
		flags = append(flags, f)
	}
	return flags
}

// flagValue says what the value of a flag completes to: words for the
// flags whose values are a fixed set, else what the placeholder of its
// help names.
func flagValue(cmd, long, placeholder string) (valueKind, []string) {
	if words := flagWords(cmd, long); words != nil {
		return valueWords, words
	}
	switch placeholder {
	case "":
		return valueNoValue, nil
	case "string":
		if long == "root" { // host's --root help names no placeholder
			return valueDir, nil
		}
	case "FILE", "OUT", "IMAGE", "VMLINUZ", "KEY", "CERT", "MANIFEST":
		return valueFile, nil
	case "DIR":
		return valueDir, nil
	case "VERSION":
		return valueKernel, nil
	case "FRAGMENT":
		return valueWords, fragments.Names()
	}
	return valueNone, nil
}

// flagWords returns the values of the flags that take one of a fixed
// set, or nil.
func flagWords(cmd, long string) []string {
	switch long {
	case "compress":
		if cmd == "spec" { // spec writes one stream: no -cli engines
			return compressors.Names()
		}
		return append(compressors.Names(), compressors.CLINames()...)
	case "level":
		return []string{"default", "max"}
	case "by":
		if cmd == "report" {
			return []string{"dir", "store-path", "package", "manifest-item"}
		}
		return []string{"path", "dir", "store-path", "package"}
	case "format":
		switch cmd {
		case "diff":
			return []string{"text", "json", "markdown"}
		case "report":
			return []string{"html", "svg", "json"}
		}
	}
	return nil
}

// firstClause is the start of a help text, up to its first parenthesis,
// colon or semicolon, without the backquotes of placeholders: short
// enough for a completion menu.
func firstClause(help string) string {
	help = strings.TrimSpace(strings.ReplaceAll(help, "`", ""))
	// "KEY: path lists the entries; ..." names the placeholder first.
	if word, rest, ok := strings.Cut(help, ": "); ok && word == strings.ToUpper(word) {
		help = rest
	}
	if i := strings.IndexAny(help, "(:;"); i > 0 {
		help = help[:i]
	}
	return strings.TrimSpace(help)
}
