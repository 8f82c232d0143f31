package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/elfdeps"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxManifestSize bounds how much of a manifest is read: a larger one is
// an error, not an out-of-memory kill.
const MaxManifestSize = 64 << 20

// Manifest is what the user asks for: version 1 of the JSON format
// documented in doc/manifest.md.
type Manifest struct {
	// Root is the tree every source path is read from, with chroot
	// semantics. Empty means "/".
	Root string `json:"root,omitempty"`
	// Compress names the compressor ("zstd", "cmd:zstd -19") or, as a
	// JSON list, an external command's argv.
	Compress Command `json:"compress,omitempty"`
	// Level is the compression level; "" or 0 is the compressor's
	// default.
	Level Level `json:"level,omitempty"`
	// Contents lists the explicit entries.
	Contents []Content `json:"contents,omitempty"`
	// StoreDirs are the directories whose store paths are followed when
	// they are referenced from scripts, units and config files.
	StoreDirs []string `json:"storeDirs,omitempty"`
	// ScanELF makes ELF files scanned for store paths too (not the
	// modules and firmware that Modules brings, which name none).
	ScanELF bool `json:"scanELF,omitempty"`
	// Dlopen is the default policy for .note.dlopen notes.
	Dlopen *Dlopen `json:"dlopen,omitempty"`
	// Units are systemd units whose closure is included.
	Units []string `json:"units,omitempty"`
	// UnitDirs is the unit search path inside the root.
	UnitDirs []string `json:"unitDirs,omitempty"`
	// FollowWants makes the .wants/ and .requires/ directories of included
	// units pull in the units they name (default true).
	FollowWants *bool `json:"followWants,omitempty"`
	// Wants creates .wants links, as "systemctl enable" would.
	Wants map[string][]string `json:"wants,omitempty"`
	// AllowMissing turns missing libraries into warnings.
	AllowMissing bool `json:"allowMissing,omitempty"`
	// Modules selects kernel modules and their firmware.
	Modules *Modules `json:"modules,omitempty"`
	// Microcode puts the CPU microcode of <root>/lib/firmware first, in
	// an uncompressed segment, where the kernel looks for it early.
	Microcode bool `json:"microcode,omitempty"`
	// Prepend lists uncompressed cpio archives (paths inside the root)
	// put first, as they are.
	Prepend []string `json:"prepend,omitempty"`
	// DirMode, an octal mode, is given to every directory copied from
	// the root instead of the source's; a make-initrd-ng list sets
	// "0755", the mode its builder creates directories with.
	DirMode string `json:"dirMode,omitempty"`

	// Include names fragments whose lists join the manifest's (see
	// Expand).
	Include []string `json:"include,omitempty"`

	// Origin names where the manifest came from, for messages.
	Origin string `json:"-"`
	// BaseDir is where relative include paths start: the manifest file's
	// directory; empty is the working directory.
	BaseDir string `json:"-"`
	// origins names, for a unit or module ("unit NAME", "load NAME"),
	// the fragment that asked for it.
	origins map[string]string
}

// Dlopen selects the libraries that .note.dlopen ELF notes declare.
type Dlopen struct {
	// Priority is the loosest priority included: "required" (also
	// when empty: a program fails without a required library),
	// "recommended" or "suggested"; "none" includes none by priority.
	Priority string `json:"priority,omitempty"`
	// Features are included whatever their priority.
	Features []string `json:"features,omitempty"`
	// UsePriority is make-initrd-ng's name for Priority.
	UsePriority string `json:"usePriority,omitempty"`
}

// Content is one explicit entry of the manifest. Exactly one kind of
// content is given: a source, a text, a symlink, or a type.
type Content struct {
	Source string `json:"source,omitempty"`
	// Program is a command name, found in systemd's fixed PATH inside
	// the root as a unit's Exec= line finds it, and copied as a source.
	Program string  `json:"program,omitempty"`
	Target  string  `json:"target,omitempty"`
	Link    bool    `json:"link,omitempty"`
	Text    *string `json:"text,omitempty"`
	Symlink *string `json:"symlink,omitempty"`
	Type    string  `json:"type,omitempty"`
	Major   *uint32 `json:"major,omitempty"`
	Minor   *uint32 `json:"minor,omitempty"`
	Mode    string  `json:"mode,omitempty"`
	UID     *uint32 `json:"uid,omitempty"`
	GID     *uint32 `json:"gid,omitempty"`
	Dlopen  *Dlopen `json:"dlopen,omitempty"`

	// index is the entry's position in its file, and origin the
	// fragment that holds it ("" for the manifest itself), for messages.
	index  int
	origin string
}

// Level is a compression level as a manifest gives it: a JSON integer
// such as 9, or a string such as "max". The compressor gives it its
// meaning (see compressors.ParseLevel).
type Level string

// UnmarshalJSON accepts an integer or a string.
func (l *Level) UnmarshalJSON(data []byte) error {
	if bytes.HasPrefix(data, []byte(`"`)) {
		return json.Unmarshal(data, (*string)(l))
	}
	var n int
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("level: want an integer or a string such as \"max\", got %s", data)
	}
	*l = Level(strconv.Itoa(n))
	return nil
}

// MarshalJSON writes an integer as a number and anything else as a string.
func (l Level) MarshalJSON() ([]byte, error) {
	if _, err := strconv.Atoi(string(l)); err == nil {
		return []byte(l), nil
	}
	return json.Marshal(string(l))
}

// Command is a compressor given either as a string or as an argv list.
type Command struct {
	Name string
	Argv []string
}

// UnmarshalJSON accepts "name" or ["cmd", "arg", ...].
func (c *Command) UnmarshalJSON(data []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
		if err := json.Unmarshal(data, &c.Argv); err != nil {
			return err
		}
		if len(c.Argv) == 0 {
			return errors.New("compress: empty command list")
		}
		return nil
	}
	return json.Unmarshal(data, &c.Name)
}

// MarshalJSON writes the form it was given in.
func (c Command) MarshalJSON() ([]byte, error) {
	if c.Argv != nil {
		return json.Marshal(c.Argv)
	}
	return json.Marshal(c.Name)
}

// IsZero reports whether no compressor was given.
func (c Command) IsZero() bool { return c.Name == "" && c.Argv == nil }

// ParseManifest reads a manifest: a version 1 object, or make-initrd-ng's
// plain list of {source, target, dlopen} objects. origin names the input
// in errors.
func ParseManifest(r io.Reader, origin string) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", origin, err)
	}
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%s: manifest larger than %d MiB", origin, MaxManifestSize>>20)
	}
	m := &Manifest{Origin: origin}
	if origin != "" && origin != "-" && !strings.HasPrefix(origin, "<") {
		m.BaseDir = filepath.Dir(origin)
	}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("[")) {
		err = decodeStrict(data, &m.Contents)
		for i := range m.Contents {
			m.Contents[i].Link = m.Contents[i].Target != ""
		}
		m.DirMode = "0755"
	} else {
		err = decodeStrict(data, m)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", origin, jsonErrorText(data, err))
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", origin, err)
	}
	return m, nil
}

func decodeStrict(data []byte, v any) error {
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &trailingError{offset: dec.InputOffset()}
	}
	return nil
}

// checkDuplicateKeys walks the JSON text and reports the first object
// that names a key twice: encoding/json keeps the last value silently, so
// a second "contents" would drop the first list. Syntax errors are left
// to the decoder, which says more.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []map[string]bool // the keys of each open object; nil for an array
	expectKey := func() bool { return len(stack) > 0 && stack[len(stack)-1] != nil }
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, map[string]bool{})
			case '[':
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if expectKey() && isKeyPosition(data, dec.InputOffset()) {
				keys := stack[len(stack)-1]
				if keys[t] {
					return &duplicateKeyError{key: t, offset: keyOffset(data, before)}
				}
				keys[t] = true
			}
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

// isKeyPosition reports whether the string token that ends at offset is
// an object key: the next non-space byte is a colon.
func isKeyPosition(data []byte, offset int64) bool {
	rest := bytes.TrimLeft(data[offset:], " \t\r\n")
	return len(rest) > 0 && rest[0] == ':'
}

// keyOffset returns the offset of the key's opening quote, the first one
// after the offset where the decoder stood before it.
func keyOffset(data []byte, before int64) int64 {
	if i := bytes.IndexByte(data[before:], '"'); i >= 0 {
		return before + int64(i)
	}
	return before
}

type duplicateKeyError struct {
	key    string
	offset int64
}

func (e *duplicateKeyError) Error() string {
	return fmt.Sprintf("key %q appears twice in one object", e.key)
}

type trailingError struct{ offset int64 }

func (e *trailingError) Error() string { return "unexpected data after the JSON value" }

// jsonErrorText says where in the input a JSON error is, as line:column.
func jsonErrorText(data []byte, err error) string {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var trail *trailingError
	var dup *duplicateKeyError
	switch {
	case errors.As(err, &dup):
		offset = dup.offset
	case errors.As(err, &syn):
		offset = syn.Offset - 1 // the offset is past the offending byte
	case errors.As(err, &typ):
		offset = typ.Offset - 1
	case errors.As(err, &trail):
		offset = trail.offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if typ != nil {
		msg = fmt.Sprintf("%s: a JSON %s cannot be a %s", typ.Field, typ.Value, typ.Type)
	}
	if offset < 0 {
		return msg
	}
	line, col := lineCol(data, offset)
	return fmt.Sprintf("line %d, column %d: %s", line, col, msg)
}

func lineCol(data []byte, offset int64) (int, int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Validate checks a manifest built in Go as ParseManifest checks a file:
// Resolve refuses a manifest that does not pass.
func (m *Manifest) Validate() error {
	for i := range m.Contents {
		if m.Contents[i].origin == "" {
			m.Contents[i].index = i
		}
	}
	var errs []error
	if err := m.Dlopen.validate(); err != nil {
		errs = append(errs, fmt.Errorf("dlopen: %w", err))
	}
	for _, d := range m.StoreDirs {
		if !path.IsAbs(d) {
			errs = append(errs, fmt.Errorf("storeDirs: %q is not an absolute path", d))
		}
	}
	if _, err := parseMode(m.DirMode); err != nil {
		errs = append(errs, fmt.Errorf("dirMode: %w", err))
	}
	for _, p := range m.Prepend {
		if err := checkPath("prepend", p); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range m.Contents {
		if err := m.Contents[i].validate(); err != nil {
			errs = append(errs, fmt.Errorf("contents[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (d *Dlopen) validate() error {
	if d == nil {
		return nil
	}
	if d.UsePriority != "" {
		if d.Priority != "" && d.Priority != d.UsePriority {
			return errors.New(`both "priority" and "usePriority" given, and they differ`)
		}
		d.Priority = d.UsePriority
	}
	if d.Priority != "" {
		if _, err := elfdeps.ParsePriority(d.Priority); err != nil {
			return err
		}
	}
	return nil
}

// Kind tells which kind of entry a Content makes.
func (c *Content) kinds() []string {
	var k []string
	if c.Source != "" {
		k = append(k, "source")
	}
	if c.Program != "" {
		k = append(k, "program")
	}
	if c.Text != nil {
		k = append(k, "text")
	}
	if c.Symlink != nil {
		k = append(k, "symlink")
	}
	if c.Type != "" {
		k = append(k, "type")
	}
	return k
}

var contentTypes = map[string]bool{"dir": true, "char": true, "block": true, "fifo": true, "socket": true}

func (c *Content) validate() error {
	kinds := c.kinds()
	switch {
	case len(kinds) == 0:
		return errors.New(`no "source", "program", "text", "symlink" or "type"`)
	case len(kinds) > 1:
		return fmt.Errorf("mixes %s: give one", strings.Join(kinds, " and "))
	}
	if c.Source != "" {
		if err := checkPath("source", c.Source); err != nil {
			return err
		}
	}
	if c.Program != "" && (strings.Contains(c.Program, "/") || strings.ContainsRune(c.Program, 0)) {
		return fmt.Errorf("program %q is a path: give it as \"source\"", c.Program)
	}
	if c.Target == "" && c.Source == "" && c.Program == "" {
		return errors.New(`"target" is required`)
	}
	if c.Target != "" {
		if err := checkPath("target", c.Target); err != nil {
			return err
		}
	}
	if c.Link && (c.Source == "" || c.Target == "") {
		return errors.New(`"link" needs both "source" and "target"`)
	}
	if c.Type != "" && !contentTypes[c.Type] {
		return fmt.Errorf("type %q is not one of dir, char, block, fifo, socket", c.Type)
	}
	isDev := c.Type == "char" || c.Type == "block"
	if isDev && (c.Major == nil || c.Minor == nil) {
		return fmt.Errorf("type %q needs \"major\" and \"minor\"", c.Type)
	}
	if !isDev && (c.Major != nil || c.Minor != nil) {
		return errors.New(`"major" and "minor" are only for type char or block`)
	}
	if isDev && (*c.Major > cpiogen.MaxMajor || *c.Minor > cpiogen.MaxMinor) {
		return fmt.Errorf("device %d:%d is out of Linux's range (major at most %d, minor at most %d)", *c.Major, *c.Minor, cpiogen.MaxMajor, cpiogen.MaxMinor)
	}
	if c.Symlink != nil && (*c.Symlink == "" || strings.ContainsRune(*c.Symlink, 0)) {
		return errors.New("symlink target is empty or holds NUL")
	}
	if _, err := c.mode(); err != nil {
		return err
	}
	return c.Dlopen.validate()
}

// checkPath rejects paths that are not absolute or that hold ".." or NUL.
func checkPath(field, p string) error {
	switch {
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%s %q holds a NUL byte", field, p)
	case !path.IsAbs(p):
		return fmt.Errorf("%s %q is not an absolute path", field, p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%s %q holds \"..\"", field, p)
		}
	}
	return nil
}

// mode parses the optional octal mode string; ok is false when unset.
func (c *Content) mode() (*uint32, error) { return parseMode(c.Mode) }

// parseMode parses an octal permission with setuid, setgid and sticky
// bits; "" gives nil.
func parseMode(s string) (*uint32, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return nil, fmt.Errorf("mode %q is not an octal permission between 0000 and 7777", s)
	}
	m := uint32(v)
	return &m, nil
}

// describe names the entry in messages: its index and target or source.
func (c *Content) describe() string {
	p := c.Target
	if p == "" {
		p = c.Source
	}
	if p == "" {
		p = c.Program
	}
	if c.origin != "" {
		return fmt.Sprintf("%s contents[%d] (%s)", c.origin, c.index, p)
	}
	return fmt.Sprintf("contents[%d] (%s)", c.index, p)
}

// reason names the entry as the reason for what it brings.
func (c *Content) reason() string {
	if c.origin != "" {
		return c.describe()
	}
	return "manifest " + c.describe()
}
