package tests

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const manPage = "../doc/mkinitrd-ng.1"

// helpFlags maps each long flag that mkinitrd-ng [CMD] --help lists to
// its short form ("" if none). pflag adds -h, --help without listing it;
// the man page documents it once, with the build options.
func helpFlags(t *testing.T, cmd ...string) map[string]string {
	t.Helper()
	r := run(t, nil, append(cmd, "--help")...)
	if r.code != 0 {
		t.Fatalf("%v --help: exit %d\n%s", cmd, r.code, r.stderr)
	}
	if want := strings.Join(append([]string{"Usage: mkinitrd-ng"}, cmd...), " "); !strings.HasPrefix(r.stdout+r.stderr, want) {
		t.Fatalf("%v --help does not start with %q:\n%s", cmd, want, r.stdout+r.stderr)
	}
	flags := map[string]string{}
	if len(cmd) == 0 {
		flags["help"] = "h"
	}
	re := regexp.MustCompile(`^\s+(?:-([a-zA-Z0-9]), )?--([a-z0-9][a-z0-9-]*)`)
	for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			flags[m[2]] = m[1]
		} else if strings.HasPrefix(strings.TrimSpace(line), "-") {
			t.Fatalf("%v --help: option line %q not understood", cmd, line)
		}
	}
	return flags
}

// manSection returns the lines of the man page's section name, with
// font escapes removed and "\-" turned into "-".
func manSection(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(manPage)
	must(t, err)
	unescape := strings.NewReplacer(`\-`, "-", `\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "")
	var lines []string
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, ".SH ") {
			in = strings.Trim(strings.TrimPrefix(l, ".SH "), `"`) == name
			continue
		}
		if in {
			lines = append(lines, unescape.Replace(l))
		}
	}
	if lines == nil {
		t.Fatalf("%s: no section %s", manPage, name)
	}
	return lines
}

// subsections splits a section's lines at its .SS headers.
func subsections(lines []string) map[string][]string {
	subs := map[string][]string{}
	name := ""
	for _, l := range lines {
		if strings.HasPrefix(l, ".SS ") {
			name = strings.Trim(strings.TrimPrefix(l, ".SS "), `"`)
			subs[name] = []string{}
			continue
		}
		if name != "" {
			subs[name] = append(subs[name], l)
		}
	}
	return subs
}

// manFlags maps each long flag of the tags (the line after .TP) in
// lines to its short form.
func manFlags(t *testing.T, lines []string) map[string]string {
	t.Helper()
	long := regexp.MustCompile(`--([a-z0-9][a-z0-9-]*)`)
	short := regexp.MustCompile(`(?:^|[\s"])-([a-zA-Z0-9])(?:[\s",]|$)`)
	flags := map[string]string{}
	for i := 0; i+1 < len(lines); i++ {
		if lines[i] != ".TP" {
			continue
		}
		tag := lines[i+1]
		l := long.FindAllStringSubmatch(tag, -1)
		if len(l) != 1 {
			t.Errorf("%s: OPTIONS tag %q names %d long options, want 1", manPage, tag, len(l))
			continue
		}
		s := ""
		if m := short.FindStringSubmatch(tag); m != nil {
			s = m[1]
		}
		flags[l[0][1]] = s
	}
	return flags
}

// TestManPageMatchesHelp keeps the man page in step with the command:
// every option of --help is documented in OPTIONS, with its short form,
// and each command's in its subsection of COMMANDS; the man page
// documents no option or command the binary lacks.
func TestManPageMatchesHelp(t *testing.T) {
	check := func(t *testing.T, cmd []string, help, man map[string]string) {
		for f, s := range help {
			ms, ok := man[f]
			switch {
			case !ok:
				t.Errorf("--%s is in %v --help but not in %s", f, cmd, manPage)
			case ms != s:
				t.Errorf("--%s: short form %q in %v --help, %q in %s", f, s, cmd, ms, manPage)
			}
		}
		for f := range man {
			if _, ok := help[f]; !ok {
				t.Errorf("--%s is in %s but not in %v --help", f, manPage, cmd)
			}
		}
	}
	t.Run("build", func(t *testing.T) {
		check(t, nil, helpFlags(t), manFlags(t, manSection(t, "OPTIONS")))
	})
	documented := subsections(manSection(t, "COMMANDS"))
	for _, cmd := range subcommands(t) {
		t.Run(cmd, func(t *testing.T) {
			lines, ok := documented[cmd]
			if !ok {
				t.Fatalf("command %s is not documented in COMMANDS of %s", cmd, manPage)
			}
			check(t, []string{cmd}, helpFlags(t, cmd), manFlags(t, lines))
		})
		delete(documented, cmd)
	}
	for cmd := range documented {
		t.Errorf("%s documents command %s, which mkinitrd-ng does not have", manPage, cmd)
	}
}

// subcommands lists the names the command's subcommand switch accepts.
func subcommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../cmd/mkinitrd-ng/main.go")
	must(t, err)
	src := string(data)
	start := strings.Index(src, "\nfunc subcommand(")
	if start < 0 {
		t.Fatal("no func subcommand in cmd/mkinitrd-ng/main.go")
	}
	body := src[start:]
	body = body[:strings.Index(body, "\n}\n")]
	var cmds []string
	for _, m := range regexp.MustCompile(`case "([a-z-]+)"`).FindAllStringSubmatch(body, -1) {
		cmds = append(cmds, m[1])
	}
	if len(cmds) == 0 {
		t.Fatal("found no subcommand in cmd/mkinitrd-ng/main.go")
	}
	return cmds
}

// TestManPageEnvironment: every MKINITRD_NG* variable the hooks read is
// documented in ENVIRONMENT.
func TestManPageEnvironment(t *testing.T) {
	env := strings.Join(manSection(t, "ENVIRONMENT"), "\n")
	re := regexp.MustCompile(`\$\{?(MKINITRD_NG[A-Z_]*)`)
	var vars []string
	for _, hook := range []string{
		"../contrib/kernel-install/50-mkinitrd-ng.install",
		"../contrib/debian/postinst.d/mkinitrd-ng",
		"../contrib/debian/postrm.d/mkinitrd-ng",
	} {
		data, err := os.ReadFile(hook)
		must(t, err)
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			if !slices.Contains(vars, m[1]) {
				vars = append(vars, m[1])
			}
		}
	}
	if len(vars) < 3 {
		t.Fatalf("found only %q in the hooks", vars)
	}
	for _, v := range vars {
		if !strings.Contains(env, ".B "+v+"\n") {
			t.Errorf("%s: %s is read by the hooks but not documented in ENVIRONMENT", manPage, v)
		}
	}
}

// TestManPageRenders formats the page with groff's warnings on: a
// malformed request would show as a warning, or as a garbled page.
func TestManPageRenders(t *testing.T) {
	r := runCmd(t, nil, nil, "groff", "-t", "-man", "-ww", "-z", "-Tutf8", manPage)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("groff: exit %d\n%s", r.code, r.stderr)
	}
	r = runCmd(t, []string{"MANWIDTH=80"}, nil, "man", "--no-hyphenation", "--no-justification", "-l", manPage)
	if r.code != 0 {
		t.Fatalf("man -l: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"MKINITRD-NG(1)", "--kernel-version VERSION", "EXIT STATUS"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}
