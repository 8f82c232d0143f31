package units

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// execKeys are the settings holding command lines, by section.
var execKeys = map[string][]string{
	"Service": {"ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost"},
	"Socket":  {"ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost"},
}

// defaultPath is systemd 252's DEFAULT_PATH as built for Debian 12
// (split-usr): where a command given by bare name is looked up.
var defaultPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// DefaultPath returns the directories systemd searches for a bare
// command name (its fixed PATH), a sane search path for scripts too.
func DefaultPath() []string { return append([]string(nil), defaultPath...) }

// command is one command of an Exec*= line: its executable as written
// (specifiers not yet expanded) and the prefixes that matter here.
type command struct {
	path   string
	ignore bool // "-": systemd ignores the command's failure
}

// splitCommands splits an Exec*= value into its commands, with the rules
// of systemd's config_parse_exec: commands are separated by a lone ";",
// each starts with optional prefixes ("-", "@", ":", "+", "!", "!!"), and
// with "@" the word after the executable is argv[0], not a file. Words are
// split by nextWord. An error means systemd would refuse the line.
func splitCommands(v string) ([]command, error) {
	var cmds []command
	p := strings.TrimLeft(v, whitespace)
	for {
		first, rest, ok, err := nextWord(p)
		if err != nil {
			// systemd drops the rest of the line with a warning.
			return cmds, ignoredError{fmt.Errorf("%w; systemd ignores the rest of the line", err)}
		}
		if !ok {
			return cmds, nil
		}
		p = rest
		if first == ";" {
			continue
		}
		var c command
		f, argv0 := first, false
		var ignore, noEnv, priv, noSetuid, ambient bool
	prefixes:
		for f != "" {
			switch {
			case f[0] == '-' && !ignore:
				ignore = true
			case f[0] == '@' && !argv0:
				argv0 = true
			case f[0] == ':' && !noEnv:
				noEnv = true
			case f[0] == '+' && !priv && !noSetuid && !ambient:
				priv = true
			case f[0] == '!' && !priv && !noSetuid && !ambient:
				noSetuid = true
			case f[0] == '!' && !priv && !ambient:
				noSetuid, ambient = false, true
			default:
				break prefixes
			}
			f = f[1:]
		}
		c.path, c.ignore = f, ignore
		if f == "" {
			return cmds, lineErr(ignore, fmt.Errorf("empty executable path in %q", v))
		}
		args := 0
		more := false
		for p != "" {
			if p[0] == ';' && (len(p) == 1 || strings.IndexByte(whitespace, p[1]) >= 0) {
				p = strings.TrimLeft(p[1:], whitespace)
				more = true
				break
			}
			if strings.HasPrefix(p, `\;`) && (len(p) == 2 || strings.IndexByte(whitespace, p[2]) >= 0) {
				p = strings.TrimLeft(p[2:], whitespace)
				args++
				continue
			}
			_, rest, ok, err := nextWord(p)
			if err != nil {
				return cmds, lineErr(ignore, err)
			}
			if !ok {
				break
			}
			p = rest
			args++
		}
		if argv0 && args == 0 {
			return cmds, lineErr(ignore, fmt.Errorf("%q: \"@\" prefix without an argv[0] word", v))
		}
		cmds = append(cmds, c)
		if !more {
			return cmds, nil
		}
	}
}

// ignoredError is a problem on a command line with the "-" prefix, which
// systemd only warns about.
type ignoredError struct{ error }

func (e ignoredError) Unwrap() error { return e.error }

func lineErr(ignore bool, err error) error {
	if ignore {
		return ignoredError{err}
	}
	return err
}

// nextWord splits the first word off s the way systemd's
// extract_first_word does with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE and
// whitespace separators: "double" and 'single' quotes group (and may start
// mid-word), backslash escapes are C escapes (\n, \x41, \101, \u00e9,
// \s for space...) inside and outside quotes, and an unknown escape, a
// trailing backslash or an unclosed quote is an error. ok is false when s
// holds no more words.
func nextWord(s string) (word, rest string, ok bool, err error) {
	s = strings.TrimLeft(s, whitespace)
	if s == "" {
		return "", "", false, nil
	}
	var b strings.Builder
	var quote byte
	i := 0
	for {
		if i == len(s) {
			if quote != 0 {
				return "", "", false, errors.New("unbalanced quotes")
			}
			return b.String(), "", true, nil
		}
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return "", "", false, errors.New("trailing backslash")
			}
			out, n, err := cunescapeOne(s[i+1:])
			if err != nil {
				return "", "", false, err
			}
			b.WriteString(out)
			i += 1 + n
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				b.WriteByte(c)
			}
			i++
		case c == '\'' || c == '"':
			quote = c
			i++
		case strings.IndexByte(whitespace, c) >= 0:
			return b.String(), strings.TrimLeft(s[i:], whitespace), true, nil
		default:
			b.WriteByte(c)
			i++
		}
	}
}

// cunescapeOne decodes the escape sequence after a backslash, as systemd's
// cunescape_one does without accepting NUL. It returns the bytes and how
// many input bytes it used.
func cunescapeOne(p string) (string, int, error) {
	bad := fmt.Errorf("invalid escape sequence \\%s", truncate(p, 4))
	switch c := p[0]; c {
	case 'a':
		return "\a", 1, nil
	case 'b':
		return "\b", 1, nil
	case 'f':
		return "\f", 1, nil
	case 'n':
		return "\n", 1, nil
	case 'r':
		return "\r", 1, nil
	case 't':
		return "\t", 1, nil
	case 'v':
		return "\v", 1, nil
	case '\\', '"', '\'':
		return string(c), 1, nil
	case 's':
		return " ", 1, nil
	case 'x':
		if len(p) < 3 {
			return "", 0, bad
		}
		a, b := unhex(p[1]), unhex(p[2])
		if a < 0 || b < 0 || a == 0 && b == 0 {
			return "", 0, bad
		}
		return string([]byte{byte(a<<4 | b)}), 3, nil
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if len(p) < n+1 {
			return "", 0, bad
		}
		var r rune
		for i := 1; i <= n; i++ {
			d := unhex(p[i])
			if d < 0 {
				return "", 0, bad
			}
			r = r<<4 | rune(d)
		}
		if r == 0 || c == 'U' && !utf8.ValidRune(r) {
			return "", 0, bad
		}
		return string(r), n + 1, nil
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(p) < 3 {
			return "", 0, bad
		}
		var m int
		for i := 0; i < 3; i++ {
			if p[i] < '0' || p[i] > '7' {
				return "", 0, bad
			}
			m = m<<3 | int(p[i]-'0')
		}
		if m == 0 || m > 255 {
			return "", 0, bad
		}
		return string([]byte{byte(m)}), 3, nil
	}
	return "", 0, bad
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// checkExecPath applies config_parse_exec's checks to an expanded
// executable path: absolute, or a plain file name to look up.
func checkExecPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty executable path")
	case !stringIsSafe(p):
		return fmt.Errorf("executable name %q contains special characters", p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("executable path %q names a directory", p)
	case strings.HasPrefix(p, "/"):
		return nil
	case strings.Contains(p, "/") || p == "." || p == ".." || len(p) > 255:
		return fmt.Errorf("%q is neither an absolute path nor a valid file name", p)
	}
	return nil
}

// commands records the executables of u's Exec*= lines. An empty
// assignment discards the commands of that setting given before it (how a
// drop-in replaces ExecStart=).
func (c *closureBuilder) commands(u unitName, frag, sec string, entries []located) {
	lists := map[string][]located{}
	var searchPath []string
	for _, e := range entries {
		if e.Section != sec {
			continue
		}
		if e.Key == "ExecSearchPath" {
			if e.Value == "" {
				searchPath = nil
			}
			for _, d := range strings.Split(e.Value, ":") {
				if d, err := u.expand(d, true, frag); err == nil && path.IsAbs(d) {
					searchPath = append(searchPath, d)
				} else if d != "" {
					c.warnf("%s:%d: ExecSearchPath=: bad directory %q; ignored", e.file, e.Line, d)
				}
			}
			continue
		}
		if !slices.Contains(execKeys[sec], e.Key) {
			continue
		}
		if e.Value == "" {
			lists[e.Key] = nil
			continue
		}
		lists[e.Key] = append(lists[e.Key], e)
	}
	if searchPath == nil {
		searchPath = defaultPath
	}
	skipped := c.conditionFails(entries)
	for _, key := range execKeys[sec] {
		for _, e := range lists[key] {
			where := fmt.Sprintf("%s:%d", e.file, e.Line)
			cmds, err := splitCommands(e.Value)
			if err != nil {
				c.execProblem(skipped || errors.As(err, new(ignoredError)), "%s: %s= of %s: %v", where, key, u.full, err)
			}
			for _, cmd := range cmds {
				cmd.ignore = cmd.ignore || skipped
				c.command(u, frag, key, where, searchPath, cmd)
			}
		}
	}
}

// conditionFails reports whether a path condition of the unit fails in
// the root, where the image's files come from: systemd then skips the
// unit, and its commands never run. Only plain conditions count, not
// negated ("!") or triggering ("|") ones, which a missing path does not
// fail alone.
func (c *closureBuilder) conditionFails(entries []located) bool {
	for _, e := range entries {
		if e.Section != "Unit" || (e.Key != "ConditionPathExists" && e.Key != "ConditionFileIsExecutable") {
			continue
		}
		if !path.IsAbs(e.Value) {
			continue
		}
		if _, err := c.fs.Stat(e.Value); notExist(err) {
			return true
		}
	}
	return false
}

// execProblem is an error, or a warning when systemd would ignore it.
func (c *closureBuilder) execProblem(ignore bool, format string, args ...any) {
	if ignore {
		c.warnf(format+" (ignored: the command has the \"-\" prefix or systemd skips it)", args...)
		return
	}
	c.errorf(format, args...)
}

func (c *closureBuilder) command(u unitName, frag, key, where string, searchPath []string, cmd command) {
	ctx := fmt.Sprintf("%s: %s= of %s", where, key, u.full)
	p, err := u.expand(cmd.path, true, frag)
	if err != nil {
		var se *specifierError
		if errors.As(err, &se) && se.instance {
			c.warnf("%s: %q: %v, so the executable is not checked", ctx, cmd.path, err)
			return
		}
		c.execProblem(cmd.ignore, "%s: %q: %v", ctx, cmd.path, err)
		return
	}
	if err := checkExecPath(p); err != nil {
		c.execProblem(cmd.ignore, "%s: %v", ctx, err)
		return
	}
	found, err := c.findExec(p, searchPath)
	if err != nil {
		c.execProblem(cmd.ignore, "%s: %v", ctx, err)
		return
	}
	if _, ok := c.execs[found]; !ok {
		c.execs[found] = Exec{Path: found, Unit: u.full, Line: where, Why: key + "= of " + u.full}
	}
}

// findExec checks an absolute executable path, or looks a bare name up in
// dirs the way systemd's find_executable does (the first regular file
// with an execute bit).
func (c *closureBuilder) findExec(p string, dirs []string) (string, error) {
	if path.IsAbs(p) {
		p = simplify(p)
		fi, err := c.fs.Stat(p)
		if err != nil {
			if notExist(err) {
				return "", fmt.Errorf("%s not found", p)
			}
			return "", err
		}
		if fi.IsDir() {
			return "", fmt.Errorf("%s is a directory", p)
		}
		return p, nil
	}
	for _, d := range dirs {
		cand := path.Join(d, p)
		fi, err := c.fs.Stat(cand)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", p, strings.Join(dirs, ":"))
}

// simplify is systemd's path_simplify: drops "." components and repeated
// slashes, keeping ".." (which the kernel resolves against symlinks).
func simplify(p string) string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return "/" + strings.Join(parts, "/")
}
