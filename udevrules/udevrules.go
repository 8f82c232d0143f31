// Package udevrules reads udev rules files for the programs they run, so
// that an image holding a rules file also holds what the rules execute,
// as dracut's inst_rules does.
//
// A rules file is a list of lines of comma-separated KEY{attr}OP"value"
// pairs; a line ending in a backslash goes on in the next one, and "#"
// starts a comment (udev(7)). The keys that run programs are PROGRAM,
// IMPORT{program} and RUN or RUN{program}; RUN{builtin} and
// IMPORT{builtin} run udev's own code.
package udevrules

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Program is a program a rule runs.
type Program struct {
	// Name is the first word of the command: an absolute path, or a
	// name that udev looks up in its own directory (/usr/lib/udev).
	Name string
	Key  string // PROGRAM, IMPORT{program} or RUN
	Line int    // the line the rule starts on
}

// Programs returns the programs that the rules read from r run, each
// once, in the order they first appear. A command whose program is a
// substitution ("$env{REMOVE_CMD}") names no program and is left out;
// so is a pair udev could not parse.
func Programs(r io.Reader) ([]Program, error) {
	var out []Program
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var rule strings.Builder
	start := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rule.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			rule.WriteString(cont)
			continue
		}
		rule.WriteString(line)
		for _, p := range rulePrograms(rule.String(), start) {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
		rule.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("udevrules: line %d: %w", start, err)
	}
	return out, nil
}

// rulePrograms returns the programs one rule runs.
func rulePrograms(rule string, line int) []Program {
	rule = strings.TrimSpace(rule)
	if rule == "" || rule[0] == '#' {
		return nil
	}
	var out []Program
	for s := rule; ; {
		key, value, rest, ok := nextPair(s)
		if !ok {
			return out
		}
		s = rest
		if k := runsProgram(key); k != "" {
			if words := strings.Fields(value); len(words) > 0 && !strings.ContainsAny(words[0], "$%") {
				out = append(out, Program{Name: words[0], Key: k, Line: line})
			}
		}
	}
}

// runsProgram returns the key as Program names it if it runs a program,
// else "".
func runsProgram(key string) string {
	switch key {
	case "PROGRAM", "IMPORT{program}":
		return key
	case "RUN", "RUN{program}":
		return "RUN"
	}
	return ""
}

// nextPair reads one KEY{attr}OP"value" pair from the start of s, after
// any separating spaces and commas, and returns what follows it.
func nextPair(s string) (key, value, rest string, ok bool) {
	s = strings.TrimLeft(s, ", \t")
	i := strings.IndexAny(s, "=!+-:")
	if i <= 0 {
		return "", "", "", false
	}
	key = strings.TrimSpace(s[:i])
	s = s[i:]
	for _, op := range []string{"==", "!=", "+=", "-=", ":=", "="} {
		if strings.HasPrefix(s, op) {
			s = s[len(op):]
			break
		}
	}
	s = strings.TrimLeft(s, " \t")
	if strings.HasPrefix(s, `e"`) {
		s = s[1:]
	}
	if !strings.HasPrefix(s, `"`) {
		return "", "", "", false
	}
	var b strings.Builder
	for j := 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && j+1 < len(s):
			b.WriteByte(s[j+1])
			j++
		case s[j] == '"':
			return key, b.String(), s[j+1:], true
		default:
			b.WriteByte(s[j])
		}
	}
	return "", "", "", false
}
