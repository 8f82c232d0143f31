package atomicfile

import (
	"bytes"
	"io"
	"os"
	"time"
)

// oldFile is the file an output replaces, compared with what is written
// while the two are equal. A rebuild whose output has not changed then
// writes nothing: no copy of the image into the page cache, no flush of
// it to the disk, no rename that frees the old one's blocks, and hard
// links to the output stay links. Only at the first difference is the
// equal start copied into the temporary file, by the kernel
// (copy_file_range) where it can.
type oldFile struct {
	f    *os.File
	size int64  // its size when opened
	same int64  // how many bytes written so far equal its start
	buf  []byte // for its bytes that a write is compared with
}

// openOld opens the file t replaces for comparison; nil when there is
// none, or it cannot be read.
func openOld(t *Target) *oldFile {
	if t.Info == nil {
		return nil
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(fi, t.Info) {
		f.Close()
		return nil
	}
	return &oldFile{f: f, size: fi.Size()}
}

// matches reports whether p equals the old file's next bytes; if it
// does, they count as written.
func (o *oldFile) matches(p []byte) bool {
	if o == nil || o.same+int64(len(p)) > o.size {
		return false
	}
	if cap(o.buf) < len(p) {
		o.buf = make([]byte, len(p))
	}
	b := o.buf[:len(p)]
	if _, err := o.f.ReadAt(b, o.same); err != nil || !bytes.Equal(b, p) {
		return false
	}
	o.same += int64(len(p))
	return true
}

func (o *oldFile) close() {
	if o != nil {
		o.f.Close()
	}
}

// diverge ends the comparison: the bytes that matched the old file are
// copied from it into the temporary file, and writes go there from now on.
func (f *File) diverge() error {
	o := f.old
	if o == nil {
		return nil
	}
	f.old = nil
	defer o.close()
	n, err := io.Copy(f.File, io.NewSectionReader(o.f, 0, o.same))
	if err == nil && n != o.same {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// keepOld keeps the old file when everything written equals it, the
// file is the same size as when it was opened and still at the target:
// it is flushed to disk, as a new file would be, and its modification
// time becomes now, so that make and its like see a fresh output. It
// reports whether the old file was kept; when it was not, what matched
// has been copied into the temporary file.
func (f *File) keepOld() (bool, error) {
	o := f.old
	if o == nil {
		return false, nil
	}
	fi, err := o.f.Stat()
	at, lerr := os.Lstat(f.target.Path)
	if err != nil || lerr != nil || o.same != o.size || fi.Size() != o.size || !os.SameFile(fi, at) {
		return false, f.diverge()
	}
	if err := o.f.Sync(); err != nil {
		return false, f.diverge()
	}
	now := time.Now()
	if err := os.Chtimes(f.target.Path, now, now); err != nil {
		return false, f.diverge()
	}
	return true, nil
}
