package mkinitrd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// WriteArchive writes the closure as an uncompressed newc archive to w,
// reading file contents from fsys as it goes (nothing is staged). Every
// entry gets mtime. It returns the archive's length.
func WriteArchive(ctx context.Context, w io.Writer, fsys *rootfs.FS, c *resolve.Closure, mtime int64) (int64, error) {
	entries := func(yield func(*resolve.Entry) bool) {
		for i := range c.Entries {
			if !yield(&c.Entries[i]) {
				return
			}
		}
	}
	return writeEntries(ctx, w, sources{fsys: fsys}, entries, hardLinks(entries), mtime)
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
		return nil, nil, fmt.Errorf("%s: %w", p, unwrap(err))
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

// writeEntries writes entries, in order, as WriteArchive does; links are
// their hard-link groups.
func writeEntries(ctx context.Context, w io.Writer, src sources, entries iter.Seq[*resolve.Entry], links map[string]*linkGroup, mtime int64) (int64, error) {
	cw := cpiogen.NewWriter(w)
	var err error
	for e := range entries {
		if err = ctx.Err(); err != nil {
			break
		}
		if err = writeEntry(cw, src, e, mtime, links[e.HardLink]); err != nil {
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

func writeEntry(cw *cpiogen.Writer, src sources, e *resolve.Entry, mtime int64, g *linkGroup) error {
	h, err := header(e, mtime, g)
	if err != nil {
		return err
	}
	switch {
	case e.Kind != resolve.File || h.Size == 0 && g != nil:
		return cw.WriteHeader(h)
	case e.Source == "":
		if err := cw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
		_, err := cw.Write(e.Data)
		return err
	}
	return copyFile(cw, src, e, h)
}

// header is the cpio header of e. Of a hard-link group's names, only the
// last carries the data (as gen_init_cpio does); the others have size 0.
func header(e *resolve.Entry, mtime int64, g *linkGroup) (*cpiogen.Header, error) {
	mode, err := cpiogen.ModeFromFileMode(e.FileMode())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	h := &cpiogen.Header{
		Name: strings.TrimPrefix(e.Path, "/"), Mode: mode, UID: e.UID, GID: e.GID, MTime: mtime,
		Linkname: e.LinkTarget, RDevMajor: e.Major, RDevMinor: e.Minor,
	}
	if e.Kind != resolve.File {
		return h, nil
	}
	h.Size = e.Size
	if g != nil {
		h.LinkKey, h.NLink = e.HardLink, uint32(g.count)
		if g.last != e.Path {
			h.Size = 0
		}
	}
	return h, nil
}

// copyFile streams a source file into the archive. A file whose size
// changed since it was resolved is an error: the header already says how
// many bytes follow, and an archive that disagrees with it is broken.
func copyFile(cw *cpiogen.Writer, src sources, e *resolve.Entry, h *cpiogen.Header) error {
	f, fi, err := src.open(e.Source, false)
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
	n, err := io.Copy(cw, io.LimitReader(f, e.Size))
	if err != nil {
		return fmt.Errorf("%s: %w", e.Source, err)
	}
	if n != e.Size {
		return fmt.Errorf("%s: file shrank to %d bytes while being read (expected %d)", e.Source, n, e.Size)
	}
	var extra [1]byte
	if k, _ := f.Read(extra[:]); k > 0 {
		return fmt.Errorf("%s: file grew while being read (expected %d bytes)", e.Source, e.Size)
	}
	return nil
}

func unwrap(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
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
