package kmod

import (
	"path"
	"strings"
)

// compressedSuffixes are the module file compressions libkmod and the
// kernel know; compressors.NewDecoder decodes each.
var compressedSuffixes = []string{".xz", ".zst", ".gz"}

// compression returns the compression suffix of a module or firmware file
// name (".xz", ".zst", ".gz"), or "" for none.
func compression(name string) string {
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(name, s) {
			return s
		}
	}
	return ""
}

// ModName returns the module name of a module file path as libkmod
// derives it: the base name up to its first dot, dashes made underscores
// ("kernel/arch/x86/crypto/crc32c-intel.ko.xz" -> "crc32c_intel").
func ModName(p string) string {
	base := path.Base(p)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// NormalizeAlias turns dashes into underscores outside bracket
// expressions, as libkmod does to both the names it is asked for and the
// alias patterns it indexes. ok is false for an unmatched bracket. A
// string without such a dash comes back as it is, without a copy: most
// of modules.alias's patterns have none.
func NormalizeAlias(s string) (string, bool) {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '-':
			if b == nil {
				b = []byte(s)
			}
			b[i] = '_'
		case ']':
			return "", false
		case '[':
			for i < len(s) && s[i] != ']' {
				i++
			}
			if i == len(s) {
				return "", false
			}
		}
	}
	if b == nil {
		return s, true
	}
	return string(b), true
}

// fnmatch reports whether name matches the shell pattern as glibc's
// fnmatch(3) with no flags does, which is how libkmod matches module
// aliases: '*' and '?' match any character, '/' and a leading '.'
// included (unlike path.Match), '[...]' is a set with '!' or '^' negation
// and ranges, and '\' quotes the next character.
func fnmatch(pattern, name string) bool {
	p, n := 0, 0
	starP, starN := -1, -1
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p++
				n++
				continue
			case '[':
				if ok, width, valid := matchBracket(pattern[p:], name[n]); valid {
					if ok {
						p += width
						n++
						continue
					}
					goto backtrack
				}
				// An unterminated '[' stands for itself.
				if name[n] == '[' {
					p++
					n++
					continue
				}
				goto backtrack
			case '\\':
				if p+1 < len(pattern) {
					if pattern[p+1] == name[n] {
						p += 2
						n++
						continue
					}
					goto backtrack
				}
				if name[n] == '\\' {
					p++
					n++
					continue
				}
				goto backtrack
			default:
				if c == name[n] {
					p++
					n++
					continue
				}
			}
		}
	backtrack:
		if starP < 0 {
			return false
		}
		starN++
		p, n = starP+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchBracket matches c against the bracket expression at the start of
// pat. width is the length of the expression; valid is false when the
// expression has no closing ']'.
func matchBracket(pat string, c byte) (matched bool, width int, valid bool) {
	i := 1
	negate := false
	if i < len(pat) && (pat[i] == '!' || pat[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(pat) {
		if pat[i] == ']' && !first {
			return matched != negate, i + 1, true
		}
		first = false
		lo := pat[i]
		if lo == '\\' && i+1 < len(pat) {
			i++
			lo = pat[i]
		}
		i++
		hi := lo
		if i+1 < len(pat) && pat[i] == '-' && pat[i+1] != ']' {
			hi = pat[i+1]
			i += 2
			if hi == '\\' && i < len(pat) {
				hi = pat[i]
				i++
			}
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}

// hasGlob reports whether s has fnmatch special characters.
func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[\\") }
