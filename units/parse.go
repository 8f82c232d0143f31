// Package units reads systemd unit files and works out what an initrd needs
// so that systemd can start a set of units in it: the unit files, their
// drop-ins and .wants/.requires links, the units they pull in, and the
// executables their Exec*= lines run.
//
// It copies nothing. Closure answers with paths inside a root (a
// *rootfs.FS) and symlinks to create; the caller copies them. The rules
// are those of systemd 252 (Debian 12), which is what runs in the initrd.
package units

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxLine is the longest logical line (after joining continuations) that
// Parse accepts, systemd's LONG_LINE_MAX.
const MaxLine = 1 << 20

// whitespace is systemd's WHITESPACE set, used for stripping and word
// splitting.
const whitespace = " \t\n\r"

// File is one parsed unit file or drop-in: its assignments in file order.
// Nothing is interpreted; repeated keys are kept as separate entries.
type File struct {
	Name    string  // as given to Parse, used in messages
	Entries []Entry // assignments, in the order they appear
}

// Entry is one assignment, Key=Value, with surrounding whitespace removed.
// Section is "" for an assignment before the first section header, which
// systemd ignores.
type Entry struct {
	Section string
	Key     string
	Value   string
	Line    int // first physical line of the assignment, counting from 1
}

// SyntaxError is a problem that makes systemd refuse a whole file.
type SyntaxError struct {
	Name string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg) }

// Parse reads a unit file or drop-in with systemd's syntax: [Section]
// headers; lines whose first non-blank character is '#' or ';' are comments
// (there are no trailing comments); a line ending in an unescaped backslash
// continues on the next line, the backslash becoming a space, and comment
// lines met inside a continuation are skipped. Lines without '=' and
// assignments with no key are ignored, as systemd does (it only warns).
// A malformed section header or invalid UTF-8 is an error, as it is for
// systemd, which then refuses the file.
func Parse(r io.Reader, name string) (*File, error) {
	f := &File{Name: name}
	br := bufio.NewReader(r)
	var (
		section  string
		cont     []byte // pending continuation, nil when none
		contLine int
		lineNo   int
		first    = true
	)
	for {
		raw, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
		}
		lineNo++
		if first {
			raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
			first = false
		}
		if len(raw)+len(cont) > MaxLine {
			return nil, &SyntaxError{name, lineNo, "line too long"}
		}
		if t := bytes.TrimLeft(raw, whitespace); len(t) > 0 && (t[0] == '#' || t[0] == ';') {
			continue
		}
		start := lineNo
		var logical []byte
		if cont != nil {
			logical = append(cont, raw...)
			start = contLine
		} else {
			logical = append([]byte(nil), raw...)
		}
		// A pending continuation ends in the space that replaced its
		// backslash, so only the new line decides.
		if endsEscaped(raw) {
			logical[len(logical)-1] = ' '
			cont, contLine = logical, start
			continue
		}
		cont = nil
		if err := f.parseLine(&section, logical, start); err != nil {
			return nil, err
		}
	}
	if cont != nil {
		if err := f.parseLine(&section, cont, contLine); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// readLine returns the next line without its terminator. Like systemd's
// read_line, it takes "\n", "\r\n", "\r" and NUL as line ends.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			if line == nil {
				return nil, io.EOF
			}
			return line, nil
		}
		if err != nil {
			return nil, err
		}
		switch c {
		case '\r':
			if n, err := br.Peek(1); err == nil && n[0] == '\n' {
				br.ReadByte()
			}
			return nonNil(line), nil
		case '\n', 0:
			return nonNil(line), nil
		}
		if len(line) > MaxLine {
			return nil, errors.New("line too long")
		}
		line = append(line, c)
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// endsEscaped reports whether s ends in a backslash that is not itself
// escaped by the one before it.
func endsEscaped(s []byte) bool {
	escaped := false
	for _, c := range s {
		if escaped {
			escaped = false
		} else if c == '\\' {
			escaped = true
		}
	}
	return escaped
}

func (f *File) parseLine(section *string, b []byte, line int) error {
	l := strings.Trim(string(b), whitespace)
	if l == "" || l[0] == '#' || l[0] == ';' {
		return nil
	}
	if !utf8.ValidString(l) {
		return &SyntaxError{f.Name, line, "invalid UTF-8"}
	}
	if l[0] == '[' {
		if l[len(l)-1] != ']' || len(l) < 2 {
			return &SyntaxError{f.Name, line, fmt.Sprintf("invalid section header %q", l)}
		}
		n := l[1 : len(l)-1]
		if !stringIsSafe(n) {
			return &SyntaxError{f.Name, line, fmt.Sprintf("bad characters in section header %q", l)}
		}
		*section = n
		return nil
	}
	k, v, ok := strings.Cut(l, "=")
	if !ok || k == "" {
		return nil // systemd: "Missing '=', ignoring line."
	}
	f.Entries = append(f.Entries, Entry{
		Section: *section,
		Key:     strings.Trim(k, whitespace),
		Value:   strings.Trim(v, whitespace),
		Line:    line,
	})
	return nil
}

// stringIsSafe is systemd's string_is_safe: no control characters, quotes
// or backslashes.
func stringIsSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == 0x7f || c == '\\' || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}

// Values returns the values assigned to key in section, in order, with
// the semantics of a list setting: an empty assignment discards the values
// before it. (Systemd's dependency settings, Wants= and the like, are the
// exception: there an empty assignment does nothing; Closure handles that.)
func (f *File) Values(section, key string) []string {
	var out []string
	for _, e := range f.Entries {
		if e.Section != section || e.Key != key {
			continue
		}
		if e.Value == "" {
			out = nil
			continue
		}
		out = append(out, e.Value)
	}
	return out
}
