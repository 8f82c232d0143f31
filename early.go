package mkinitrd

import (
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
// cpio), then the manifest's "prepend" archives as they are.
func WriteEarly(w io.Writer, fsys *rootfs.FS, m *resolve.Manifest, mtime int64) error {
	if m.Microcode {
		files, err := kmod.Microcode(fsys)
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
		if err := copyPrepend(w, fsys, p); err != nil {
			return err
		}
	}
	return nil
}

// copyPrepend copies one archive and pads it with zeros to 4 bytes: the
// kernel reads the next segment's magic only at a 4-byte boundary.
func copyPrepend(w io.Writer, fsys *rootfs.FS, p string) error {
	f, err := fsys.Open(p)
	if err != nil {
		return fmt.Errorf("prepend %s: %w", p, unwrap(err))
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("prepend %s: %w", p, err)
	}
	_, err = w.Write(make([]byte, (4-n%4)%4))
	return err
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
