package units

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// unitTypes are the suffixes systemd 252 knows, each with the section
// that holds its type-specific settings ("" when it has none).
var unitTypes = map[string]string{
	"service":   "Service",
	"socket":    "Socket",
	"target":    "",
	"device":    "",
	"mount":     "Mount",
	"automount": "Automount",
	"swap":      "Swap",
	"timer":     "Timer",
	"path":      "Path",
	"slice":     "Slice",
	"scope":     "Scope",
}

// maxName is systemd's UNIT_NAME_MAX: a name must be shorter.
const maxName = 256

type nameKind int

const (
	plain    nameKind = iota // foo.service
	template                 // foo@.service
	instance                 // foo@bar.service
)

// unitName is a unit name split into its parts: prefix, instance (after
// the first '@') and type (after the last '.').
type unitName struct {
	full     string
	prefix   string
	instance string
	typ      string
	kind     nameKind
}

// validChar is systemd's VALID_CHARS plus '@'.
func validChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@'
}

// parseName checks a unit name with the rules of systemd's
// unit_name_is_valid and splits it.
func parseName(n string) (unitName, bool) {
	if n == "" || len(n) >= maxName {
		return unitName{}, false
	}
	dot := strings.LastIndexByte(n, '.')
	if dot <= 0 {
		return unitName{}, false
	}
	typ := n[dot+1:]
	if _, ok := unitTypes[typ]; !ok {
		return unitName{}, false
	}
	at := -1
	for i := 0; i < dot; i++ {
		if !validChar(n[i]) {
			return unitName{}, false
		}
		if n[i] == '@' && at < 0 {
			at = i
		}
	}
	u := unitName{full: n, typ: typ}
	switch {
	case at == 0:
		return unitName{}, false
	case at < 0:
		u.prefix, u.kind = n[:dot], plain
	case at+1 == dot:
		u.prefix, u.kind = n[:at], template
	default:
		u.prefix, u.instance, u.kind = n[:at], n[at+1:dot], instance
	}
	return u, true
}

// templateName returns foo@.service for foo@bar.service.
func (u unitName) templateName() string { return u.prefix + "@." + u.typ }

// withInstance returns the template u (foo@.service) instantiated.
func (u unitName) withInstance(inst string) string { return u.prefix + "@" + inst + "." + u.typ }

// withType returns the name with another type suffix, keeping the
// instance: foo@bar.socket -> foo@bar.service.
func (u unitName) withType(typ string) string {
	return strings.TrimSuffix(u.full, "."+u.typ) + "." + typ
}

// unescapeName is systemd's unit_name_unescape: '-' is '/', \xNN a byte.
func unescapeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '-':
			b.WriteByte('/')
		case '\\':
			if i+3 >= len(s) || s[i+1] != 'x' {
				return "", fmt.Errorf("bad escape in %q", s)
			}
			hi, lo := unhex(s[i+2]), unhex(s[i+3])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("bad escape in %q", s)
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 3
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// escapeName is systemd's unit_name_escape: '/' becomes '-', and '-',
// '\' and anything outside the valid characters become \xNN.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case i == 0 && c == '.', c == '-', c == '\\', c == '@', !validChar(c):
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapePath is systemd's unit_name_path_unescape.
func unescapePath(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty path")
	}
	if s == "-" {
		return "/", nil
	}
	w, err := unescapeName(s)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(w, "/") || strings.HasSuffix(w, "/") {
		return "", fmt.Errorf("%q is not a valid escaped path", s)
	}
	for _, part := range strings.Split(w, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("%q is not a valid escaped path", s)
		}
	}
	return "/" + w, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// specifierError is an expansion that cannot be done at build time.
type specifierError struct {
	spec     byte
	instance bool // the value depends on an instance the unit does not have
}

func (e *specifierError) Error() string {
	if e.instance {
		return fmt.Sprintf("specifier %%%c needs an instance name, and this unit has none", e.spec)
	}
	return fmt.Sprintf("unknown specifier %%%c (or one whose value is only known on the booted machine)", e.spec)
}

// systemDirs are the specifiers that name fixed directories for systemd's
// system manager.
var systemDirs = map[byte]string{
	't': "/run", 'S': "/var/lib", 'C': "/var/cache", 'L': "/var/log",
	'E': "/etc", 'T': "/tmp", 'V': "/var/tmp",
}

// expand replaces specifiers in s for the unit u, the way systemd does for
// unit names (full false: unit_name_printf, only %i %j %n %N %p) or for
// paths and arguments (full true: unit_full_printf; fragment is the unit
// file's path for %y and %Y). Specifiers whose values depend on the
// machine the initrd boots (%H, %m, %v, %b...) are errors here.
func (u unitName) expand(s string, full bool, fragment string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) { // a stray '%' at the end stays
			b.WriteByte('%')
			break
		}
		i++
		c := s[i]
		v, err := u.specifier(c, full, fragment)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func (u unitName) specifier(c byte, full bool, fragment string) (string, error) {
	lastComponent := func() string {
		if i := strings.LastIndexByte(u.prefix, '-'); i >= 0 {
			return u.prefix[i+1:]
		}
		return u.prefix
	}
	needInstance := func() error {
		if u.kind == plain {
			return nil
		}
		if u.instance == "" {
			return &specifierError{spec: c, instance: true}
		}
		return nil
	}
	switch c {
	case '%':
		return "%", nil
	case 'i':
		return u.instance, needInstance()
	case 'j':
		return lastComponent(), nil
	case 'n':
		return u.full, nil
	case 'N':
		return strings.TrimSuffix(u.full, "."+u.typ), nil
	case 'p':
		return u.prefix, nil
	}
	if !full {
		return "", &specifierError{spec: c}
	}
	switch c {
	case 'I':
		if err := needInstance(); err != nil {
			return "", err
		}
		return unescapeName(u.instance)
	case 'J':
		return unescapeName(lastComponent())
	case 'P':
		return unescapeName(u.prefix)
	case 'f':
		if u.kind == plain {
			return unescapePath(u.prefix)
		}
		if err := needInstance(); err != nil {
			return "", err
		}
		return unescapePath(u.instance)
	case 'y':
		return fragment, nil
	case 'Y':
		return path.Dir(fragment), nil
	}
	if d, ok := systemDirs[c]; ok {
		return d, nil
	}
	return "", &specifierError{spec: c}
}
