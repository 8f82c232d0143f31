package main

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
)

// TestCompletionCommands: the completion's list of subcommands is the
// switch of subcommand, case for case.
func TestCompletionCommands(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)[strings.Index(string(src), "\nfunc subcommand("):]
	body = body[:strings.Index(body, "\n}\n")]
	var cases []string
	for _, m := range regexp.MustCompile(`case "([a-z-]+)"`).FindAllStringSubmatch(body, -1) {
		cases = append(cases, m[1])
	}
	var listed []string
	for _, c := range subcommandInfo() {
		listed = append(listed, c.name)
	}
	slices.Sort(cases)
	slices.Sort(listed)
	if !slices.Equal(cases, listed) {
		t.Errorf("subcommand's cases %v, completion's commands %v", cases, listed)
	}
}

// TestCompletionWords: every word offered for a flag's value is one the
// command accepts.
func TestCompletionWords(t *testing.T) {
	specs, err := completionSpecs()
	if err != nil {
		t.Fatal(err)
	}
	accepts := map[string]func(cmd, w string) error{
		"compress": func(_, w string) error { _, err := compressors.Lookup(w, 0); return err },
		"level":    func(_, w string) error { _, err := compressors.ParseLevel(w); return err },
		"by": func(cmd, w string) error {
			if cmd == "report" {
				j := &reportJob{by: w, dpkgDir: t.TempDir()}
				var ue usageError
				if _, err := j.grouping(); errors.As(err, &ue) {
					return err
				}
				return nil
			}
			if _, err := grouping(w, t.TempDir()); errors.Is(err, errBadBy) {
				return err
			}
			return nil
		},
		"format": func(cmd, w string) error {
			if cmd == "report" {
				_, err := reportWriter(w)
				return err
			}
			_, err := diffWriter(w, false, true)
			return err
		},
	}
	seen := map[string]bool{}
	for _, c := range specs {
		for _, f := range c.flags {
			if f.kind != valueWords {
				continue
			}
			check, ok := accepts[f.long]
			if !ok {
				t.Errorf("%s --%s: words %v, and no test of them", c.name, f.long, f.words)
				continue
			}
			seen[f.long] = true
			for _, w := range f.words {
				if err := check(c.name, w); err != nil {
					t.Errorf("%s --%s %s: %v", c.name, f.long, w, err)
				}
			}
		}
	}
	if len(seen) != len(accepts) {
		t.Errorf("flags with words: %v, want %v", seen, accepts)
	}
}

// TestParseFlagUsages reads pflag's help lines, with and without short
// forms and placeholders.
func TestParseFlagUsages(t *testing.T) {
	usage := "Usage: x\n\nOptions:\n" +
		"  -o, --output FILE     write to FILE (default: -)\n" +
		"      --json            print JSON\n" +
		"      --by KEY          group by KEY: path, dir\n" +
		"  -c, --compress string  compressor: none, gzip\n" +
		"      --root string      the tree\n"
	got := parseFlagUsages("diff", usage)
	want := []flagSpec{
		{long: "output", short: "o", help: "write to FILE", kind: valueFile},
		{long: "json", help: "print JSON", kind: valueNoValue},
		{long: "by", help: "group by KEY", kind: valueWords, words: []string{"path", "dir", "store-path", "package"}},
		{long: "compress", short: "c", help: "compressor", kind: valueWords, words: append(compressors.Names(), compressors.CLINames()...)},
		{long: "root", help: "the tree", kind: valueDir},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d flags, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.long != w.long || g.short != w.short || g.help != w.help || g.kind != w.kind || !slices.Equal(g.words, w.words) {
			t.Errorf("flag %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestCompletionScripts: each shell's script is generated, names every
// flag of every command, and a bad shell is a usage error.
func TestCompletionScripts(t *testing.T) {
	specs, err := completionSpecs()
	if err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := completionCommand([]string{shell}, nil, &out, &errb); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			for _, c := range specs {
				for _, f := range c.flags {
					if !strings.Contains(out.String(), f.long) {
						t.Errorf("%s script lacks --%s of %q", shell, f.long, c.name)
					}
				}
			}
		})
	}
	var errb bytes.Buffer
	if code := completionCommand([]string{"tcsh"}, nil, &bytes.Buffer{}, &errb); code != exitUsage || !strings.Contains(errb.String(), "want bash, zsh or fish") {
		t.Errorf("tcsh: exit %d, %q", code, errb.String())
	}
}

// TestCompletionQuoting: a word that would need quoting is refused
// rather than written into a script.
func TestCompletionQuoting(t *testing.T) {
	specs := []cmdSpec{{name: "", flags: []flagSpec{{long: "x", kind: valueWords, words: []string{"a b"}}}}}
	for _, write := range []func(*bytes.Buffer, []cmdSpec) error{
		func(b *bytes.Buffer, s []cmdSpec) error { return writeBash(b, s) },
		func(b *bytes.Buffer, s []cmdSpec) error { return writeZsh(b, s) },
		func(b *bytes.Buffer, s []cmdSpec) error { return writeFish(b, s) },
	} {
		if err := write(&bytes.Buffer{}, specs); !errors.Is(err, errCompletionWord) {
			t.Errorf("err = %v, want errCompletionWord", err)
		}
	}
}
