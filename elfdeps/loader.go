package elfdeps

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Loader looks up and parses ELF files inside a source tree, with ld.so's
// rules. It is safe for concurrent use. Results are kept for the Loader's
// lifetime: each path is opened at most once (to learn which file it is),
// and each file (device and inode) is parsed once, whatever the number of
// callers and of paths leading to it. A failed lookup is remembered too.
// A caller that opens files itself can share them with the Loader (FileOf)
// and ask which files it has read already (Parsed), so that no file is
// opened twice.
type Loader struct {
	fs       *rootfs.FS
	confDirs []string
	stores   []string // store directories: see SetStoreDirs

	mu    sync.Mutex
	paths map[string]*pathEntry // by path as asked
	ids   map[fileID]*fileEntry // by device and inode
	dirs  map[string]string     // directory -> symlink-free directory
	archs map[archKey]*archInfo
	// provided records, for each object and name it asks for, what a
	// process resolved the name to (see Provider).
	provided map[neededKey]Provision
}

// neededKey is one name one object asks for.
type neededKey struct {
	id   fileID
	name string
}

// Provision is what a name an object asks for resolved to in one process.
type Provision struct {
	Path    string // the object that answered the name
	Program string // the program whose process it was
}

// fileID identifies a file the way ld.so does to notice that two names
// lead to an object it has already loaded.
type fileID struct{ dev, ino uint64 }

type pathEntry struct {
	once sync.Once
	fe   *fileEntry
	err  error // opening failed, or the path is not a regular file
}

type fileEntry struct {
	// ready is closed once file and err are set, by the caller that
	// added the entry: a channel rather than a sync.Once, so that Parsed
	// can wait for a file another caller is reading without being able to
	// read it itself.
	ready chan struct{}
	id    fileID
	file  *File
	err   error // from Read, without the path
}

// NewLoader returns a Loader for the tree fsys. It reads /etc/ld.so.conf
// and the files it includes inside the tree; a tree without the file just
// has no configured directories.
func NewLoader(fsys *rootfs.FS) (*Loader, error) {
	l := &Loader{
		fs:    fsys,
		paths: make(map[string]*pathEntry),
		ids:   make(map[fileID]*fileEntry),
		dirs:  make(map[string]string),
		archs: make(map[archKey]*archInfo),

		provided: make(map[neededKey]Provision),
	}
	dirs, err := readLdSoConf(fsys, "/etc/ld.so.conf")
	if err != nil {
		return nil, err
	}
	l.confDirs = dirs
	return l, nil
}

// SetStoreDirs names the store directories of the tree (Nix's
// /nix/store). A program whose interpreter lies in one of them, or a
// library in one that is resolved alone, follows the store's loader rules:
// its interpreter was built to search only its own directory, never the
// host's ld.so.conf or /lib and /usr/lib. Call it before any Process.
func (l *Loader) SetStoreDirs(dirs []string) {
	l.stores = make([]string, len(dirs))
	for i, d := range dirs {
		l.stores[i] = rootfs.Clean(d)
	}
}

// inStore returns the store directory p lies in, "" if none.
func (l *Loader) inStore(p string) string {
	for _, d := range l.stores {
		if strings.HasPrefix(p, d+"/") {
			return d
		}
	}
	return ""
}

// Provider returns what the name asked for by the object at p resolved to
// in a process that loaded that object, as ld.so matched it there: an
// object loaded already under that soname, or one found in the search
// path. Of several processes, the program first in path order is named.
// It knows the processes run so far.
func (l *Loader) Provider(p, name string) (Provision, bool) {
	fe, err := l.open(rootfs.Clean(p), nil)
	if err != nil || fe.err != nil {
		return Provision{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	pv, ok := l.provided[neededKey{fe.id, name}]
	return pv, ok
}

// record keeps, for every name an object of the process asked for and
// got, what answered it, for Provider.
func (l *Loader) record(pr *process, program string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range pr.objs {
		for _, name := range o.asked() {
			got := pr.names[name]
			if got == nil {
				continue
			}
			k := neededKey{o.id, name}
			if prev, ok := l.provided[k]; !ok || program < prev.Program {
				l.provided[k] = Provision{Path: got.path, Program: program}
			}
		}
	}
}

// ConfDirs returns the directories named by /etc/ld.so.conf and its
// includes, in the order they are searched.
func (l *Loader) ConfDirs() []string { return append([]string(nil), l.confDirs...) }

// File returns the parsed ELF file at p, following symlinks inside the
// tree. A file that is not ELF, or not a regular file, gives an error
// wrapping ErrNotELF. Errors name p.
func (l *Loader) File(p string) (*File, error) { return l.file(p, nil) }

// FileOf is File for a caller that has the file at p open already as f:
// f is read instead of p being opened again, and the result is kept for p
// as if the Loader had opened it (Process(p) then reads nothing). The
// caller keeps f, which FileOf reads with ReadAt only, so its offset is
// unchanged. If p was opened before, f is not read.
func (l *Loader) FileOf(p string, f *os.File) (*File, error) { return l.file(p, f) }

func (l *Loader) file(p string, f *os.File) (*File, error) {
	p = rootfs.Clean(p)
	fe, err := l.open(p, f)
	if err != nil {
		return nil, err
	}
	if fe.err != nil {
		return nil, fmt.Errorf("%s: %w", p, fe.err)
	}
	return fe.file, nil
}

// Parsed returns the ELF file that fi, the FileInfo of the file at p,
// describes if the Loader has read that file already through any path:
// a library found under /lib/x86_64-linux-gnu is the same file as one
// asked for under /usr/lib/x86_64-linux-gnu. It lets a caller that would
// open a file only to learn that it is ELF skip the open. On success p is
// remembered as leading to the file, so Process(p) does not open it
// either. A file not read yet, or read and found not to be ELF, gives
// false.
func (l *Loader) Parsed(p string, fi fs.FileInfo) (*File, bool) {
	id, ok := idOf(fi)
	if !ok {
		return nil, false
	}
	l.mu.Lock()
	fe := l.ids[id]
	l.mu.Unlock()
	if fe == nil {
		return nil, false
	}
	<-fe.ready
	if fe.err != nil {
		return nil, false
	}
	pe := l.pathEntry(rootfs.Clean(p))
	pe.once.Do(func() { pe.fe = fe })
	return fe.file, true
}

// pathEntry returns the cache entry for p (a clean path), new if p was
// never asked for.
func (l *Loader) pathEntry(p string) *pathEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	pe := l.paths[p]
	if pe == nil {
		pe = &pathEntry{}
		l.paths[p] = pe
	}
	return pe
}

// open returns the cached entry for p (a clean path), on first use reading
// f, or opening p if f is nil. The returned error is about reaching p; a
// parse failure is in the entry's err.
func (l *Loader) open(p string, f *os.File) (*fileEntry, error) {
	pe := l.pathEntry(p)
	pe.once.Do(func() {
		if f != nil {
			pe.fe, pe.err = l.read(p, f)
			return
		}
		opened, err := l.fs.Open(p)
		if err != nil {
			pe.err = err
			return
		}
		defer opened.Close()
		pe.fe, pe.err = l.read(p, opened)
	})
	return pe.fe, pe.err
}

// read returns the entry of the file f, open at p, parsing it unless the
// same file (device and inode) was parsed before through another path.
func (l *Loader) read(p string, f *os.File) (*fileEntry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("%w (%s)", ErrNotELF, rootfs.TypeName(fi.Mode()))}
	}
	id, ok := idOf(fi)
	if !ok {
		return nil, fmt.Errorf("%s: no device and inode numbers", p)
	}
	l.mu.Lock()
	fe := l.ids[id]
	first := fe == nil
	if first {
		fe = &fileEntry{id: id, ready: make(chan struct{})}
		l.ids[id] = fe
	}
	l.mu.Unlock()
	if first {
		fe.file, fe.err = Read(f)
		close(fe.ready)
	}
	<-fe.ready
	return fe, nil
}

// idOf returns the device and inode numbers of the file fi describes.
func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// realDir returns dir with every symlink in it resolved, so that ".."
// after it climbs the way the kernel would. On failure dir is returned.
func (l *Loader) realDir(dir string) string {
	l.mu.Lock()
	r, ok := l.dirs[dir]
	l.mu.Unlock()
	if ok {
		return r
	}
	r, _, err := l.fs.Resolve(dir)
	if err != nil {
		r = dir
	}
	l.mu.Lock()
	l.dirs[dir] = r
	l.mu.Unlock()
	return r
}

// readLdSoConf returns the directories listed in the ld.so.conf file name
// and, recursively, in the files its "include" lines match. As in
// ldconfig, each other line names one directory, a relative include
// pattern is relative to the directory of the file that includes it,
// "hwcap" lines are ignored, '#' starts a comment, and each directory is
// listed once.
func readLdSoConf(fsys *rootfs.FS, name string) ([]string, error) {
	var dirs []string
	seenDir := make(map[string]bool)
	seenFile := make(map[string]bool)
	var read func(name string, depth int) error
	read = func(name string, depth int) error {
		if seenFile[name] || depth > 16 {
			return nil // an include loop: ldconfig would recurse forever
		}
		seenFile[name] = true
		data, err := fsys.ReadFile(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("ld.so.conf: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(line)
			keyword, rest := line, ""
			if i := strings.IndexAny(line, " \t"); i >= 0 {
				keyword, rest = line[:i], strings.TrimSpace(line[i+1:])
			}
			switch {
			case line == "":
			case keyword == "include" && rest != "":
				for _, pat := range strings.Fields(rest) {
					if !strings.HasPrefix(pat, "/") {
						pat = path.Join(path.Dir(name), pat)
					}
					matches, err := glob(fsys, pat)
					if err != nil {
						return fmt.Errorf("%s: include %s: %w", name, pat, err)
					}
					for _, m := range matches {
						if err := read(m, depth+1); err != nil {
							return err
						}
					}
				}
			case strings.EqualFold(keyword, "hwcap") && rest != "":
			default:
				// The rest of the line is one directory.
				d := rootfs.Clean(line)
				if !seenDir[d] {
					seenDir[d] = true
					dirs = append(dirs, d)
				}
			}
		}
		return nil
	}
	if err := read(rootfs.Clean(name), 0); err != nil {
		return nil, err
	}
	return dirs, nil
}

// glob expands an absolute pattern inside the tree, like glob(3): any
// component may hold wildcards, results are sorted, no match is no error.
func glob(fsys *rootfs.FS, pattern string) ([]string, error) {
	parts := strings.Split(strings.Trim(rootfs.Clean(pattern), "/"), "/")
	cur := []string{"/"}
	for _, part := range parts {
		if part == "" {
			continue
		}
		if _, err := path.Match(part, ""); err != nil {
			return nil, err
		}
		var next []string
		for _, dir := range cur {
			if !strings.ContainsAny(part, `*?[\`) {
				p := path.Join(dir, part)
				if _, err := fsys.Lstat(p); err == nil {
					next = append(next, p)
				}
				continue
			}
			ents, err := fsys.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(part, ".") {
					continue
				}
				if ok, _ := path.Match(part, e.Name()); ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		cur = next
	}
	return cur, nil
}

// archKey selects the search rules that depend on the ELF target.
type archKey struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine
}

// archInfo is what the loader of one target substitutes and searches.
type archInfo struct {
	lib      string   // $LIB
	platform string   // $PLATFORM, "" if unknown
	defaults []string // default directories, in search order
}

// triplet returns the Debian multiarch name of a target, "" if unknown.
func (k archKey) triplet() string {
	switch k.machine {
	case elf.EM_X86_64:
		if k.class == elf.ELFCLASS32 {
			return "x86_64-linux-gnux32"
		}
		return "x86_64-linux-gnu"
	case elf.EM_386:
		return "i386-linux-gnu"
	case elf.EM_AARCH64:
		return "aarch64-linux-gnu"
	case elf.EM_ARM:
		return "arm-linux-gnueabihf"
	case elf.EM_PPC64:
		if k.data == elf.ELFDATA2LSB {
			return "powerpc64le-linux-gnu"
		}
		return "powerpc64-linux-gnu"
	case elf.EM_S390:
		return "s390x-linux-gnu"
	case elf.EM_RISCV:
		return "riscv64-linux-gnu"
	case elf.EM_LOONGARCH:
		return "loongarch64-linux-gnu"
	}
	return ""
}

// platform returns the AT_PLATFORM string the kernel gives processes of a
// target, for the targets where it does not depend on the CPU model.
func (k archKey) platform() string {
	switch k.machine {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_386:
		return "i686"
	case elf.EM_AARCH64:
		return "aarch64"
	}
	return ""
}

// arch returns the target-dependent rules for the tree, worked out once.
//
// glibc's default directories and $LIB are build-time choices that differ
// between distributions: Debian searches /lib/<triplet>, /usr/lib/<triplet>,
// /lib, /usr/lib and sets $LIB to "lib/<triplet>"; Fedora searches /lib64,
// /usr/lib64 and sets $LIB to "lib64". A tree with a /lib/<triplet>
// directory is taken for a multiarch one. The default directories are the
// union of both layouts (the 64-bit dirs only for 64-bit targets), so that a
// library ld.so finds is never reported missing.
func (l *Loader) arch(k archKey) *archInfo {
	l.mu.Lock()
	a := l.archs[k]
	l.mu.Unlock()
	if a != nil {
		return a
	}
	a = &archInfo{platform: k.platform(), lib: "lib"}
	if k.class == elf.ELFCLASS64 {
		a.lib = "lib64"
	}
	if t := k.triplet(); t != "" {
		a.defaults = append(a.defaults, "/lib/"+t, "/usr/lib/"+t)
		if fi, err := l.fs.Stat("/lib/" + t); err == nil && fi.IsDir() {
			a.lib = "lib/" + t
		}
	}
	if k.class == elf.ELFCLASS64 {
		a.defaults = append(a.defaults, "/lib64", "/usr/lib64")
	}
	a.defaults = append(a.defaults, "/lib", "/usr/lib")
	l.mu.Lock()
	if prev := l.archs[k]; prev != nil {
		a = prev
	} else {
		l.archs[k] = a
	}
	l.mu.Unlock()
	return a
}

// expandDST substitutes the dynamic string tokens $ORIGIN, $LIB and
// $PLATFORM (also written ${NAME}) in s, as glibc does: an unknown "$" is
// kept as is,
// and ok is false when a token has no value (the element is then dropped).
func expandDST(s string, origin func() string, a *archInfo) (out string, ok bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		name, n := dstToken(s[i+1:])
		var val string
		switch name {
		case "ORIGIN":
			val = origin()
		case "LIB":
			val = a.lib
		case "PLATFORM":
			val = a.platform
		default:
			b.WriteByte('$')
			i++
			continue
		}
		if val == "" {
			return "", false
		}
		b.WriteString(val)
		i += 1 + n
	}
	return b.String(), true
}

// dstToken recognises a token name at the start of s (just after '$') and
// returns it with the number of bytes it takes, or "" if there is none. As
// in glibc's is_dst, an unbraced name must not run on into a longer
// identifier ("$ORIGINAL" is no token).
func dstToken(s string) (string, int) {
	for _, name := range []string{"ORIGIN", "PLATFORM", "LIB"} {
		if strings.HasPrefix(s, "{"+name+"}") {
			return name, len(name) + 2
		}
		if strings.HasPrefix(s, name) && (len(s) == len(name) || !isIdentChar(s[len(name)])) {
			return name, len(name)
		}
	}
	return "", 0
}

func isIdentChar(c byte) bool {
	return c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}
