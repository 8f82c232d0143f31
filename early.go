package mkinitrd

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/kmod"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// WriteEarly writes the uncompressed segments that come before the main
// archive: with "microcode", the CPU microcode where the kernel's early
// loader looks for it (kernel/x86/microcode/*.bin, in the very first
// cpio), then the manifest's "prepend" archives as they are. A prepend
// file must be a regular file holding newc archives, each ended by a
// TRAILER!!! record: anything else would make the kernel stop unpacking
// there, or the next segment unreadable.
func WriteEarly(w io.Writer, fsys *rootfs.FS, m *resolve.Manifest, mtime int64) error {
	return writeEarly(w, sources{fsys: fsys}, m, mtime)
}

func writeEarly(w io.Writer, src sources, m *resolve.Manifest, mtime int64) error {
	if m.Microcode {
		files, err := kmod.Microcode(src.fsys)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			if err := writeMicrocode(w, files, mtime); err != nil {
				return err
			}
		}
	}
	for _, p := range m.Prepend {
		if err := copyPrepend(w, src, p); err != nil {
			return fmt.Errorf("prepend %w", err)
		}
	}
	return nil
}

// copyPrepend copies one archive, checking it as it goes, and pads it
// with zeros to 4 bytes: the kernel reads the next segment's magic only
// at a 4-byte boundary. Errors start with p.
func copyPrepend(w io.Writer, src sources, p string) error {
	f, fi, err := src.open(p, true)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi.Size() == 0 {
		return fmt.Errorf("%s: is empty, not a newc archive", p)
	}
	sw := &sinkWriter{w: w}
	cw := &countWriter{w: sw}
	err = checkNewc(bufio.NewReader(io.TeeReader(f, cw)))
	if err := sw.own(err); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	_, err = w.Write(make([]byte, (4-cw.n%4)%4))
	return err
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

func writeMicrocode(w io.Writer, files []kmod.Generated, mtime int64) error {
	cw := cpiogen.NewWriter(w)
	for _, d := range kmod.MicrocodeDirs {
		if err := cw.WriteHeader(&cpiogen.Header{Name: d, Mode: cpiogen.TypeDir | 0o755, MTime: mtime}); err != nil {
			return err
		}
	}
	for _, f := range files {
		h := &cpiogen.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: cpiogen.TypeReg | 0o644, MTime: mtime, Size: int64(len(f.Data))}
		if err := cw.WriteHeader(h); err != nil {
			return fmt.Errorf("microcode %s: %w", f.Path, err)
		}
		if _, err := cw.Write(f.Data); err != nil {
			return err
		}
	}
	return cw.Close()
}
