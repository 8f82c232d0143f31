package kmod

import (
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// aliasFile is the text of modules.alias or modules.symbols as depmod
// wrote it. It is kept as read rather than parsed: a build looks up a few
// names in it and keeps the lines of a few modules, and the file has tens
// of thousands of lines, so parsing each costs more than the rest of a
// rebuild's module work. Each walk parses only the lines whose first
// bytes can give what it looks for, and keeps the file's order. A caller
// that looks up many names (a host's devices, a manifest of modaliases)
// gets the file parsed once, after scansBeforeParse lookups, since a
// scan costs a fraction of a parse but many scans cost more.
type aliasFile struct {
	text  string
	scans atomic.Int32
	once  sync.Once
	lines []aliasLine // every alias line, once parsed
}

// scansBeforeParse is how many lookups scan an alias file before it is
// parsed whole: about what a parse costs in scans, so that a build pays at
// most about twice the cheaper of the two ways.
const scansBeforeParse = 8

// newAliasFile returns the alias file of text.
func newAliasFile(text string) *aliasFile { return &aliasFile{text: text} }

// matching yields the alias lines of f whose pattern may match the
// normalized name, in the file's order: every line that parseAlias
// accepts and whose pattern matches, and others that the caller's
// fnmatch rejects.
func (f *aliasFile) matching(name string) iter.Seq[aliasLine] {
	return func(yield func(aliasLine) bool) {
		if name == "" {
			return
		}
		if f.scans.Add(1) > scansBeforeParse {
			f.once.Do(f.parse)
			for _, a := range f.lines {
				if !yield(a) {
					return
				}
			}
			return
		}
		for l := range eachLine(f.text) {
			if !patternMayStart(l, name[0]) {
				continue
			}
			if a, ok := parseAlias(l); ok && !yield(a) {
				return
			}
		}
	}
}

// parse keeps every alias line of f.
func (f *aliasFile) parse() {
	f.lines = make([]aliasLine, 0, strings.Count(f.text, "\n")+1)
	for l := range eachLine(f.text) {
		if a, ok := parseAlias(l); ok {
			f.lines = append(f.lines, a)
		}
	}
}

// ofModules yields the alias lines of f whose module is in mods, in the
// file's order.
func (f *aliasFile) ofModules(mods map[string]uint32) iter.Seq[aliasLine] {
	return func(yield func(aliasLine) bool) {
		for l := range eachLine(f.text) {
			if last, ok := lastField(l); ok {
				if _, in := mods[strings.ReplaceAll(last, "-", "_")]; !in {
					continue
				}
			}
			if a, ok := parseAlias(l); ok {
				if _, in := mods[a.modname]; in && !yield(a) {
					return
				}
			}
		}
	}
}

// patternMayStart reports whether the alias line l may have a pattern
// that matches a normalized name starting with c. It is false only for
// an ASCII line that is no "alias" line, or whose pattern starts with a
// character other than c and no wildcard; a line with other bytes before
// its pattern, which a Unicode space could split, is left to parseAlias.
func patternMayStart(l string, c byte) bool {
	rest := strings.TrimLeftFunc(l, isSpaceRune)
	word := strings.TrimPrefix(rest, "alias")
	if len(word) == len(rest) || word == "" {
		return rest != "" && rest[0] >= utf8.RuneSelf
	}
	pattern := strings.TrimLeftFunc(word, isSpaceRune)
	if len(pattern) == len(word) || pattern == "" {
		return word[0] >= utf8.RuneSelf
	}
	switch p := pattern[0]; {
	case p >= utf8.RuneSelf, p == c, p == '*', p == '?', p == '[', p == '\\':
		return true
	case p == '-':
		return c == '_' // NormalizeAlias makes a leading dash one
	}
	return false
}

// lastField returns the last field of l as strings.Fields splits it. ok
// is false when that field has a byte beyond ASCII: a Unicode space in
// it could end it sooner.
func lastField(l string) (field string, ok bool) {
	end := len(l)
	for end > 0 && isSpace(l[end-1]) {
		end--
	}
	start := end
	for start > 0 && !isSpace(l[start-1]) {
		if l[start-1] >= utf8.RuneSelf {
			return "", false
		}
		start--
	}
	return l[start:end], true
}

// isSpaceRune is isSpace for strings.TrimLeftFunc: ASCII white space
// only, so that a byte beyond ASCII stops the trimming.
func isSpaceRune(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) }
