package resolve

import (
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// storeScanner finds store paths such as /nix/store/<hash>-name/bin/x in
// a stream of bytes.
type storeScanner struct {
	re *regexp.Regexp
	// bufs recycles the read buffers: one per file would make resolving
	// a large tree allocate as much as it reads.
	bufs sync.Pool
}

// maxRef bounds one reference, so that scanning in chunks misses none
// that crosses a chunk boundary.
const maxRef = 4096

func newStoreScanner(dirs []string) *storeScanner {
	if len(dirs) == 0 {
		return &storeScanner{}
	}
	quoted := make([]string, len(dirs))
	for i, d := range dirs {
		quoted[i] = regexp.QuoteMeta(strings.TrimRight(d, "/"))
	}
	// Nix store hashes are 32 characters of its base-32 alphabet (no e,
	// o, u, t); names use [A-Za-z0-9+._?=-]. Later path components may
	// also hold '@' (systemd template units).
	pattern := `(?:` + strings.Join(quoted, "|") + `)/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+(?:/[A-Za-z0-9+._?=@-]+)*`
	return &storeScanner{re: regexp.MustCompile(pattern)}
}

// scan returns the distinct references in r, sorted, with trailing
// punctuation that ends sentences trimmed.
func (s *storeScanner) scan(r io.Reader) ([]string, error) {
	if s.re == nil {
		return nil, nil
	}
	found := map[string]bool{}
	buf, _ := s.bufs.Get().([]byte)
	if buf == nil {
		buf = make([]byte, 1<<20)
	}
	defer s.bufs.Put(buf)
	keep := 0
	for {
		n, err := io.ReadFull(r, buf[keep:])
		data := buf[:keep+n]
		final := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !final {
			return nil, err
		}
		locs := s.re.FindAllIndex(data, -1)
		cut := len(data)
		if !final && len(data) > maxRef {
			cut = len(data) - maxRef
		}
		for _, l := range locs {
			if l[0] >= cut {
				break
			}
			found[strings.TrimRight(string(data[l[0]:l[1]]), ".")] = true
		}
		if final {
			break
		}
		keep = copy(buf, data[cut:])
	}
	out := make([]string, 0, len(found))
	for ref := range found {
		out = append(out, ref)
	}
	sort.Strings(out)
	return out, nil
}

// inStore reports whether p lies in one of the store directories.
func (r *resolver) inStore(p string) bool {
	for _, d := range r.stores {
		if within(p, d) {
			return true
		}
	}
	return false
}

// wrapped adds the program a Nix wrapper execs. makeWrapper and
// makeBinaryWrapper move a store program NAME aside as .NAME-wrapped and
// put a wrapper in its place that runs it by its store path, which a
// binary wrapper holds where no reference scan of ELF files looks.
func (r *resolver) wrapped(o *outcome, file string, fi fs.FileInfo) {
	if fi.Mode()&0o111 == 0 || !r.inStore(file) {
		return
	}
	dir, name := path.Split(file)
	hidden := path.Join(dir, "."+name+"-wrapped")
	if _, err := r.fs.Lstat(hidden); err != nil {
		return
	}
	o.next = append(o.next, request{path: hidden, why: "wrapped by " + file, from: file, program: true})
}
