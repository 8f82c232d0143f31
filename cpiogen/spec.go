package cpiogen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// SpecEntry is one line of a gen_init_cpio spec (the kernel's
// usr/gen_init_cpio input, also written by usr/gen_initramfs.sh):
//
//	file <name> <location> <mode> <uid> <gid> [<hard links>...]
//	dir  <name> <mode> <uid> <gid>
//	nod  <name> <mode> <uid> <gid> <b|c> <maj> <min>
//	slink <name> <target> <mode> <uid> <gid>
//	pipe <name> <mode> <uid> <gid>
//	sock <name> <mode> <uid> <gid>
type SpecEntry struct {
	Line int // 1-based line number in the spec, for messages; 0 if not parsed

	// Header holds Name (without the leading "/"), Mode (type bits set),
	// UID, GID, and Linkname or RDevMajor/RDevMinor by type. NLink is
	// what gen_init_cpio writes: 2 for dir, pipe and sock, the number of
	// names for a file, 1 otherwise. Size, MTime and Check are filled in
	// when the entry is written.
	Header Header

	Source string   // file: the host location, ${VAR} already expanded
	Links  []string // file: further names of the same file (hard links), without leading "/"
}

// ParseSpec reads a gen_init_cpio spec. Lines whose first non-blank
// character is '#' are comments, as is anything from a field starting
// with '#' to the end of the line. ${VAR} in a file's location is replaced
// by getenv("VAR") (gen_init_cpio uses the environment, and an unset
// variable expands to ""); getenv may be nil if no expansion is wanted.
//
// Unlike gen_init_cpio, which skips what it cannot parse with a warning,
// ParseSpec rejects unknown types, missing or extra fields, bad numbers and
// negative ids; it reports every bad line, each with its line number.
func ParseSpec(r io.Reader, getenv func(string) string) ([]SpecEntry, error) {
	var entries []SpecEntry
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4*PathMax+1024)
	for n := 1; sc.Scan(); n++ {
		e, err := parseSpecLine(sc.Text(), getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec line %d: %w", n, err))
			continue
		}
		if e != nil {
			e.Line = n
			entries = append(entries, *e)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("reading spec: %w", err))
	}
	return entries, errors.Join(errs...)
}

// parseSpecLine parses one line of a spec. A line with nothing but blanks
// and a comment gives a nil entry.
func parseSpecLine(line string, getenv func(string) string) (*SpecEntry, error) {
	l, t, err := splitSpecLine(line)
	if l.kind == "" || err != nil {
		return nil, err
	}
	e := &SpecEntry{}
	h := &e.Header
	h.Name = strings.TrimPrefix(l.args[0], "/")
	if h.Mode, err = l.mode(t); err != nil {
		return nil, err
	}
	if h.UID, h.GID, err = l.numbers(t.modeAt+1, [2]string{"uid", "gid"}); err != nil {
		return nil, err
	}
	h.NLink = 1
	switch l.kind {
	case "file":
		e.Source = expandEnv(l.args[1], getenv)
		for _, name := range l.args[5:] {
			e.Links = append(e.Links, strings.TrimPrefix(name, "/"))
		}
		h.NLink = uint32(1 + len(e.Links))
	case "slink":
		h.Linkname = l.args[1]
	case "nod":
		if h.RDevMajor, h.RDevMinor, err = l.numbers(5, [2]string{"major", "minor"}); err != nil {
			return nil, err
		}
	case "dir", "pipe", "sock":
		h.NLink = 2 // gen_init_cpio's cpio_mkgeneric
	}
	return e, nil
}

// specType is what a spec line's type word says about the line.
type specType struct {
	nargs  int    // fields after the type word; a file line may add hard links
	typ    uint32 // the file type; a nod line's b or c field may change it
	modeAt int    // the field of the mode, which uid and gid follow
}

// specTypes are the type words of a spec. The mode follows the name, or
// the name and a location or target.
var specTypes = map[string]specType{
	"file":  {nargs: 5, typ: TypeReg, modeAt: 2},
	"dir":   {nargs: 4, typ: TypeDir, modeAt: 1},
	"nod":   {nargs: 7, typ: TypeChar, modeAt: 1},
	"slink": {nargs: 5, typ: TypeSymlink, modeAt: 2},
	"pipe":  {nargs: 4, typ: TypeFIFO, modeAt: 1},
	"sock":  {nargs: 4, typ: TypeSocket, modeAt: 1},
}

// specLine is a spec line split into fields: its type word, and the
// fields after it, of which the first is the name.
type specLine struct {
	kind string
	args []string
}

// splitSpecLine splits line into fields, without its comment, and checks
// its type word and number of fields. A line without fields has an empty
// kind.
func splitSpecLine(line string) (specLine, specType, error) {
	f := strings.Fields(line)
	for i, s := range f {
		if strings.HasPrefix(s, "#") {
			f = f[:i]
			break
		}
	}
	if len(f) == 0 {
		return specLine{}, specType{}, nil
	}
	l := specLine{kind: f[0], args: f[1:]}
	t, ok := specTypes[l.kind]
	if !ok {
		return specLine{}, specType{}, fmt.Errorf("unknown type %q (want file, dir, nod, slink, pipe or sock)", l.kind)
	}
	if len(l.args) < t.nargs || len(l.args) > t.nargs && l.kind != "file" {
		return specLine{}, specType{}, fmt.Errorf("%s: %d fields, want %d", l.kind, len(l.args), t.nargs)
	}
	return l, t, nil
}

// errorf is an error about the line, which names its type and name.
func (l specLine) errorf(format string, args ...any) error {
	return fmt.Errorf("%s %s: %s", l.kind, l.args[0], fmt.Sprintf(format, args...))
}

// mode returns the Header mode of a line of type t: its octal mode field,
// permission bits that may repeat the file type, with the type set.
func (l specLine) mode(t specType) (uint32, error) {
	field := l.args[t.modeAt]
	mode, err := strconv.ParseUint(field, 8, 32)
	if err != nil {
		return 0, l.errorf("mode %q is not octal", field)
	}
	typ := t.typ
	if l.kind == "nod" {
		switch l.args[4] {
		case "b":
			typ = TypeBlock
		case "c":
		default:
			return 0, l.errorf("device type %q, want b or c", l.args[4])
		}
	}
	if ft := uint32(mode) & TypeMask; uint32(mode)&^(TypeMask|ModePerm) != 0 || ft != 0 && ft != typ {
		return 0, l.errorf("mode %s is not a %s's permission bits", field, typeName(typ))
	}
	return typ | uint32(mode)&ModePerm, nil
}

// numbers parses the two decimal fields at i, named names (uid and gid,
// or major and minor).
func (l specLine) numbers(i int, names [2]string) (a, b uint32, err error) {
	var v [2]uint32
	for j, s := range l.args[i : i+2] {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, 0, l.errorf("%s %q is not a non-negative number", names[j], s)
		}
		v[j] = uint32(n)
	}
	return v[0], v[1], nil
}

// expandEnv replaces ${VAR} like gen_init_cpio's cpio_replace_env: left to
// right, unset variables give "", an unclosed "${" is left alone. Unlike
// os.Expand it leaves $VAR without braces untouched.
func expandEnv(s string, getenv func(string) string) string {
	if getenv == nil {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(getenv(s[i+2 : i+2+j]))
		s = s[i+3+j:]
	}
	b.WriteString(s)
	return b.String()
}

// FormatSpec writes entries as a gen_init_cpio spec that ParseSpec (and
// gen_init_cpio) read back to the same entries. Names and locations must
// not contain white space, which the format cannot express.
func FormatSpec(w io.Writer, entries []SpecEntry) error {
	bw := bufio.NewWriter(w)
	for _, e := range entries {
		h := &e.Header
		words := append([]string{h.Name, e.Source, h.Linkname}, e.Links...)
		for _, s := range words {
			if strings.ContainsAny(s, " \t\n\r\v\f") || strings.HasPrefix(s, "#") {
				return fmt.Errorf("cpiogen: %q: cannot be written in a spec (white space or leading #)", s)
			}
		}
		if h.Name == "" {
			return fmt.Errorf("cpiogen: spec entry with an empty name")
		}
		name := "/" + h.Name
		perm := fmt.Sprintf("%04o %d %d", h.Mode&ModePerm, h.UID, h.GID)
		var line string
		switch h.Type() {
		case TypeReg:
			line = fmt.Sprintf("file %s %s %s", name, e.Source, perm)
			for _, l := range e.Links {
				line += " /" + l
			}
		case TypeDir:
			line = "dir " + name + " " + perm
		case TypeSymlink:
			line = fmt.Sprintf("slink %s %s %s", name, h.Linkname, perm)
		case TypeChar, TypeBlock:
			c := "c"
			if h.Type() == TypeBlock {
				c = "b"
			}
			line = fmt.Sprintf("nod %s %s %s %d %d", name, perm, c, h.RDevMajor, h.RDevMinor)
		case TypeFIFO:
			line = "pipe " + name + " " + perm
		case TypeSocket:
			line = "sock " + name + " " + perm
		default:
			return fmt.Errorf("cpiogen: %s: mode %#o has no spec type", h.Name, h.Mode)
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// SpecWriteOptions says where WriteSpec gets file data and times from.
type SpecWriteOptions struct {
	// Open opens a file line's Source. It is required: the caller decides
	// which filesystem a spec may read (a rootfs.FS, or the host).
	Open func(location string) (fs.File, error)
	// MTime is every entry's mtime (gen_init_cpio -t).
	MTime int64
	// FileMTimes makes regular files keep their source's mtime, as
	// gen_init_cpio does without -t.
	FileMTimes bool
}

// WriteSpec writes entries to w exactly as gen_init_cpio would (with -t
// MTime unless FileMTimes): a file with hard links becomes one record per
// name, all with the same inode and nlink, and the data on the last one.
// It does not Close w, so the caller can add more entries.
func WriteSpec(w *Writer, entries []SpecEntry, opt SpecWriteOptions) error {
	if opt.Open == nil {
		return errors.New("cpiogen: WriteSpec needs SpecWriteOptions.Open")
	}
	for _, e := range entries {
		if err := writeSpecEntry(w, e, opt); err != nil {
			if e.Line > 0 {
				return fmt.Errorf("spec line %d: %w", e.Line, err)
			}
			return err
		}
	}
	return nil
}

func writeSpecEntry(w *Writer, e SpecEntry, opt SpecWriteOptions) error {
	h := e.Header
	h.MTime = opt.MTime
	if h.Type() != TypeReg {
		return w.WriteHeader(&h)
	}
	f, err := opt.Open(e.Source)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %s is not a regular file (%v)", h.Name, e.Source, fi.Mode().Type())
	}
	if opt.FileMTimes {
		h.MTime = fi.ModTime().Unix()
	}
	size := fi.Size()
	if w.checksum && size > 0 {
		// The header, which carries the sum, precedes the data: read the
		// file twice, as gen_init_cpio does.
		c := NewChecksum()
		if _, err := io.Copy(c, f); err != nil {
			return fmt.Errorf("%s: %w", e.Source, err)
		}
		h.Check = c.Sum32()
		s, ok := f.(io.Seeker)
		if !ok {
			return fmt.Errorf("%s: cannot rewind %s to write it after checksumming", h.Name, e.Source)
		}
		if _, err := s.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", e.Source, err)
		}
	}
	names := append([]string{h.Name}, e.Links...)
	h.NLink = uint32(len(names))
	if len(names) > 1 {
		// Unique: the inode the first name is about to get.
		h.LinkKey = fmt.Sprintf("\x00spec\x00%d", w.nextIno)
	}
	for i, name := range names {
		lh := h
		lh.Name = name
		lh.Size, lh.Check = 0, 0
		if i == len(names)-1 {
			lh.Size, lh.Check = size, h.Check
		}
		if err := w.WriteHeader(&lh); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%s: %w", e.Source, err)
	}
	return w.checkComplete() // the file shrank since Stat
}
