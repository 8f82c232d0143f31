package mkinitrd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// WriteArchive writes the closure's entries as an uncompressed newc
// archive to w, reading file contents from fsys as it goes (nothing is
// staged). Every entry gets mtime. It returns the archive's length.
func WriteArchive(ctx context.Context, w io.Writer, c *resolve.Closure, fsys *rootfs.FS, mtime int64) (int64, error) {
	a := &archiver{src: sources{fsys: fsys}, mtime: mtime}
	a.number(each(c.Entries))
	return a.writeEntries(ctx, w, each(c.Entries))
}

// each yields a pointer to each of entries, in order.
func each(entries []resolve.Entry) iter.Seq[*resolve.Entry] {
	return func(yield func(*resolve.Entry) bool) {
		for i := range entries {
			if !yield(&entries[i]) {
				return
			}
		}
	}
}

// archiver writes entries as cpio records: what every record of an
// archive shares.
type archiver struct {
	src   sources
	links map[string]*linkGroup // the hard-link groups, by Entry.HardLink
	inos  inodes                // the records' inode numbers
	mtime int64                 // every entry's
	// progress counts the archive's bytes as they go into the
	// compressors; nil counts nothing.
	progress *Progress
}

// number finds the hard-link groups of entries, the archive's, and
// numbers their records.
func (a *archiver) number(entries iter.Seq[*resolve.Entry]) {
	a.links = hardLinks(entries)
	a.inos = numberInodes(entries, a.links)
}

// newWriter returns a cpiogen.Writer of the archive's records to w,
// numbered by a.inos.
func (a *archiver) newWriter(w io.Writer) *cpiogen.Writer {
	return cpiogen.NewWriter(w, cpiogen.WithGivenInodes())
}

// header returns the record header of e in the archive.
func (a *archiver) header(e *resolve.Entry) (*cpiogen.Header, error) {
	g := a.links[e.HardLink]
	h, err := header(e, a.mtime, g)
	if err == nil {
		h.Ino = a.inos.of(e, g)
	}
	return h, err
}

// sources opens the files an archive copies from the tree, refusing the
// build's own outputs.
type sources struct {
	fsys    *rootfs.FS
	outputs []os.FileInfo // see Options.Outputs
}

// open opens a regular file of the tree: p itself when follow is false,
// else what its symlinks lead to.
func (s sources) open(p string, follow bool) (*os.File, os.FileInfo, error) {
	open := s.fsys.OpenNoFollow
	if follow {
		open = s.fsys.Open
	}
	f, err := open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, rootfs.Cause(err))
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("%s: %w", p, err)
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s: not a regular file", p)
	case s.isOutput(fi):
		err = fmt.Errorf("%s: %w", p, ErrInputIsOutput)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func (s sources) isOutput(fi os.FileInfo) bool {
	for _, o := range s.outputs {
		if os.SameFile(fi, o) {
			return true
		}
	}
	return false
}

// writeEntries writes entries, in order, as one archive with its
// trailer, and returns its length.
func (a *archiver) writeEntries(ctx context.Context, w io.Writer, entries iter.Seq[*resolve.Entry]) (int64, error) {
	cw := a.newWriter(w)
	var err error
	for e := range entries {
		if err = a.writeEntry(ctx, cw, e); err != nil {
			break
		}
	}
	if err == nil {
		err = cw.Close()
	}
	return cw.Offset(), err
}

// linkGroup is a set of names of one inode of the root.
type linkGroup struct {
	count int
	last  string // the name that carries the data, as gen_init_cpio does
}

// hardLinks finds the files that share an inode with another entry.
func hardLinks(entries iter.Seq[*resolve.Entry]) map[string]*linkGroup {
	groups := map[string]*linkGroup{}
	for e := range entries {
		if e.Kind != resolve.File || e.HardLink == "" {
			continue
		}
		g := groups[e.HardLink]
		if g == nil {
			g = &linkGroup{}
			groups[e.HardLink] = g
		}
		g.count++
		g.last = e.Path
	}
	for k, g := range groups {
		if g.count < 2 {
			delete(groups, k)
		}
	}
	return groups
}

// writeEntry writes one entry's record, stopping first if the context is
// done.
func (a *archiver) writeEntry(ctx context.Context, cw *cpiogen.Writer, e *resolve.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := a.header(e)
	if err != nil {
		return err
	}
	switch {
	case e.Kind != resolve.File || h.Size == 0 && h.LinkKey != "":
		return cw.WriteHeader(h)
	case e.Source == "":
		if err := cw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
		_, err := cw.Write(e.Data)
		return err
	}
	return a.copyFile(cw, e, h)
}

// Header returns the cpio header of e as an archive of mtime holds it:
// the name without its leading slash, the mode with the type bits of its
// kind, and the size of a File's content.
func Header(e *resolve.Entry, mtime int64) (*cpiogen.Header, error) {
	mode, err := cpiogen.ModeFromFileMode(e.FileMode())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	h := &cpiogen.Header{
		Name: strings.TrimPrefix(e.Path, "/"), Mode: mode, UID: e.UID, GID: e.GID, MTime: mtime,
		Linkname: e.LinkTarget, RDevMajor: e.Major, RDevMinor: e.Minor,
	}
	if e.Kind == resolve.File {
		h.Size = e.Size
	}
	return h, nil
}

// header is Header for an entry of the hard-link group g (nil for none):
// only the group's last name carries the data, as gen_init_cpio writes
// it; the others have size 0.
func header(e *resolve.Entry, mtime int64, g *linkGroup) (*cpiogen.Header, error) {
	h, err := Header(e, mtime)
	if err != nil || e.Kind != resolve.File || g == nil {
		return h, err
	}
	h.LinkKey, h.NLink = e.HardLink, uint32(g.count)
	if g.last != e.Path {
		h.Size = 0
	}
	return h, nil
}

// copyFile streams a source file into the archive. A file whose size
// changed since it was resolved is an error: the header already says how
// many bytes follow, and an archive that disagrees with it is broken.
func (a *archiver) copyFile(cw *cpiogen.Writer, e *resolve.Entry, h *cpiogen.Header) error {
	f, fi, err := a.src.open(e.Source, false)
	if err != nil {
		return err
	}
	defer f.Close()
	if e.Decompress {
		return copyDecoded(cw, f, e, h)
	}
	if fi.Size() != e.Size {
		return fmt.Errorf("%s: size changed from %d to %d bytes while building", e.Source, e.Size, fi.Size())
	}
	if err := cw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	return copyExactly(cw, f, e.Size, e.Source)
}

// copyExactly copies size bytes of f, the file source, to w: a file that
// shrank or grew while being read is an error.
func copyExactly(w io.Writer, f *os.File, size int64, source string) error {
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if n != size {
		return fmt.Errorf("%s: file shrank to %d bytes while being read (expected %d)", source, n, size)
	}
	var extra [1]byte
	if k, _ := f.Read(extra[:]); k > 0 {
		return fmt.Errorf("%s: file grew while being read (expected %d bytes)", source, size)
	}
	return nil
}

// copyDecoded streams a compressed source (a .ko.xz module) decoded; the
// header's size is the decoded size measured while resolving.
func copyDecoded(cw *cpiogen.Writer, f io.Reader, e *resolve.Entry, h *cpiogen.Header) error {
	dec, err := compressors.NewDecoder(f)
	if errors.Is(err, compressors.ErrNotCompressed) {
		return fmt.Errorf("%s: not in a compressed format to decode", e.Source)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", e.Source, err)
	}
	defer dec.Close()
	if err := cw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	n, err := io.Copy(cw, io.LimitReader(dec, e.Size))
	if err != nil {
		return fmt.Errorf("%s: %w", e.Source, err)
	}
	var extra [1]byte
	if k, _ := dec.Read(extra[:]); n != e.Size || k > 0 {
		return fmt.Errorf("%s: decoded size changed from %d bytes while building", e.Source, e.Size)
	}
	return nil
}
