package mkinitrd

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/kmod"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// WriteEarly writes the closure's early segments (resolve.EarlySegment),
// the uncompressed start of the image, to w: each segment of entries as
// an archive of its own, each prepended archive as it is, padded with
// zeros to 4 bytes, as the kernel reads the next segment's magic only at
// a 4-byte boundary. Every entry gets mtime.
func WriteEarly(ctx context.Context, w io.Writer, c *resolve.Closure, fsys *rootfs.FS, mtime int64) error {
	a := &archiver{src: sources{fsys: fsys}, mtime: mtime}
	return a.writeEarly(ctx, w, c.Early)
}

func (a *archiver) writeEarly(ctx context.Context, w io.Writer, early []resolve.EarlySegment) error {
	for _, s := range early {
		if s.Archive != "" {
			if err := a.copyArchive(ctx, w, s); err != nil {
				return fmt.Errorf("prepend %w", err)
			}
			continue
		}
		ea := &archiver{src: a.src, mtime: a.mtime}
		ea.number(each(s.Entries))
		if _, err := ea.writeEntries(ctx, w, each(s.Entries)); err != nil {
			return err
		}
	}
	return nil
}

// copyArchive copies a prepended archive and pads it to 4 bytes. Errors
// start with its path.
func (a *archiver) copyArchive(ctx context.Context, w io.Writer, s resolve.EarlySegment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, fi, err := a.src.open(s.Archive, true)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi.Size() != s.Size {
		return fmt.Errorf("%s: size changed from %d to %d bytes while building", s.Archive, s.Size, fi.Size())
	}
	if err := copyExactly(w, f, s.Size, s.Archive); err != nil {
		return err
	}
	_, err = w.Write(make([]byte, (4-s.Size%4)%4))
	return err
}

// releaseData drops the inline data of early segments that are written.
func releaseData(early []resolve.EarlySegment) {
	for _, s := range early {
		for i := range s.Entries {
			s.Entries[i].Data = nil
		}
	}
}

// resolveEarly finds the early segments of m: with "microcode", the CPU
// microcode where the kernel's early loader looks for it
// (kernel/x86/microcode/*.bin, in the very first archive), then the
// manifest's "prepend" archives. A prepend file must be a regular file
// holding newc archives, each ended by a TRAILER!!! record: anything else
// would make the kernel stop unpacking there, or the next segment
// unreadable.
func resolveEarly(m *resolve.Manifest, src sources) ([]resolve.EarlySegment, error) {
	var early []resolve.EarlySegment
	if m.Microcode {
		entries, err := microcode(src.fsys)
		if err != nil {
			return nil, err
		}
		if len(entries) > 0 {
			early = append(early, resolve.EarlySegment{Entries: entries})
		}
	}
	for _, p := range m.Prepend {
		size, err := checkPrepend(src, p)
		if err != nil {
			return nil, fmt.Errorf("prepend %w", err)
		}
		early = append(early, resolve.EarlySegment{Archive: p, Size: size})
	}
	return early, nil
}

// microcode returns the entries of the early microcode archive: its
// directories, then a file for each vendor with microcode in the tree.
// No microcode at all gives no entries.
func microcode(fsys *rootfs.FS) ([]resolve.Entry, error) {
	files, err := kmod.Microcode(fsys)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	var entries []resolve.Entry
	for _, d := range kmod.MicrocodeDirs {
		entries = append(entries, resolve.Entry{Path: "/" + d, Kind: resolve.Dir, Mode: 0o755,
			Why: "directory of the early microcode archive"})
	}
	for _, f := range files {
		entries = append(entries, resolve.Entry{Path: "/" + f.Path, Kind: resolve.File, Mode: 0o644,
			Data: f.Data, Size: int64(len(f.Data)), Why: f.Why})
	}
	return entries, nil
}

// checkPrepend checks the archive at p and returns its size. Errors start
// with p.
func checkPrepend(src sources, p string) (int64, error) {
	f, fi, err := src.open(p, true)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if fi.Size() == 0 {
		return 0, fmt.Errorf("%s: is empty, not a newc archive", p)
	}
	if err := checkNewc(bufio.NewReader(f)); err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return fi.Size(), nil
}

// checkNewc reads newc archives to the end of r: each must end with a
// TRAILER!!! record, and only zeros may come between and after them.
func checkNewc(r *bufio.Reader) error {
	for {
		if err := skipZeros(r); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		cr := cpiogen.NewReader(r)
		for {
			_, err := cr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("not a newc archive ending with %s: %w", cpiogen.Trailer, err)
			}
		}
	}
}

// skipZeros reads zero bytes up to the next other byte; io.EOF when the
// input ends first.
func skipZeros(r *bufio.Reader) error {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != 0 {
			return nil
		}
		r.ReadByte()
	}
}
