package inspect

import (
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every byte a terminal could take for a command
// escaped as ls -b (GNU ls --escape) escapes it, so that a name from an
// untrusted image can neither recolour the terminal nor fake a line of
// output. \a, \b, \t, \n, \v, \f and \r keep their C escapes, a
// backslash is doubled, and any other control character, invalid UTF-8
// byte or non-printing character (unicode.IsPrint: format characters
// such as U+202E, which reverses the text after it, included) is
// written as the octal escapes of its bytes, ESC as \033. Printable
// UTF-8 and the space are kept. s is returned as is when it needs no
// escape, so escaping every name costs a scan, not a copy.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		n := printable(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:i]...)
	for i < len(s) {
		if n := printable(s[i:]); n > 0 {
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		for _, c := range []byte(s[i : i+n]) {
			b = appendEscape(b, c)
		}
		i += n
	}
	return string(b)
}

// printable returns the length of the character s starts with if it
// needs no escape, else 0.
func printable(s string) int {
	if c := s[0]; c < utf8.RuneSelf {
		if c >= ' ' && c < 0x7f && c != '\\' {
			return 1
		}
		return 0
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n == 1 || !unicode.IsPrint(r) {
		return 0
	}
	return n
}

// appendEscape appends the escape of the byte c.
func appendEscape(b []byte, c byte) []byte {
	const cEscapes = "\a\b\t\n\v\f\r\\"
	const cLetters = "abtnvfr\\"
	for i := range len(cEscapes) {
		if cEscapes[i] == c {
			return append(b, '\\', cLetters[i])
		}
	}
	return append(b, '\\', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
}
