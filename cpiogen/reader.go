package cpiogen

import (
	"bytes"
	"fmt"
	"io"
)

// maxNameSize bounds the namesize a Reader accepts: PATH_MAX plus one
// byte of slack for writers that do not count the NUL in PATH_MAX. It also
// bounds what one header can make the Reader allocate.
const maxNameSize = PathMax + 1

// Reader reads a newc archive (070701, or 070702 whose checksums it
// verifies) as a sequence of entries. It reads the stream sequentially,
// never allocates more than a name and a symlink target per entry,
// and reports malformed input as errors wrapping ErrFormat (or
// io.ErrUnexpectedEOF) with the offset, never by panicking.
type Reader struct {
	r   io.Reader
	off int64 // bytes consumed from r

	cur       *Header
	remaining int64  // data bytes of cur not yet read
	pad       int64  // padding after cur's data
	sum       uint32 // running checksum of cur's data
	verify    bool   // cur's checksum must be verified
	dataOff   int64  // offset of cur's data, for messages

	err error // sticky; io.EOF after the trailer
	hdr [HeaderSize]byte
}

// NewReader returns a Reader reading an archive from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next skips the rest of the current entry and returns the next entry's
// header. It returns io.EOF after the TRAILER!!! record. Symlink targets
// are read into Header.Linkname (without the trailing NUL that
// gen_init_cpio writes); for other entries the data is read with Read.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := r.skip(); err != nil {
		return nil, err
	}
	h, err := r.readHeader()
	if err != nil {
		r.err = err
		return nil, err
	}
	return h, nil
}

// Read reads the current entry's data. It returns io.EOF at the end of
// the data; for a 070702 regular file it first verifies the checksum and
// returns an error wrapping ErrChecksum on a mismatch.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.cur == nil || r.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.remaining -= int64(n)
	if r.verify {
		r.sum = sumBytes(r.sum, p[:n])
	}
	if r.remaining == 0 {
		if err := r.checkSum(); err != nil {
			return n, err
		}
		return n, nil
	}
	if err == io.EOF {
		err = r.unexpectedEOF("data of " + r.cur.Name)
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

// skip discards what is left of the current entry: data (still summed for
// the checksum) and padding.
func (r *Reader) skip() error {
	if r.cur == nil {
		return nil
	}
	var buf [4096]byte
	for r.remaining > 0 {
		p := buf[:]
		if int64(len(p)) > r.remaining {
			p = p[:r.remaining]
		}
		if _, err := r.Read(p); err != nil {
			if err == io.EOF {
				err = r.unexpectedEOF("data of " + r.cur.Name)
			}
			r.err = err
			return err
		}
	}
	if err := r.readFull(buf[:r.pad], "padding after "+r.cur.Name); err != nil {
		return err
	}
	r.cur = nil
	return nil
}

// checkSum verifies the checksum of a completely read entry.
func (r *Reader) checkSum() error {
	if !r.verify {
		return nil
	}
	r.verify = false
	if r.sum != r.cur.Check {
		r.err = fmt.Errorf("%s (data at offset %d): %w: header says %#08x, data sums to %#08x",
			r.cur.Name, r.dataOff, ErrChecksum, r.cur.Check, r.sum)
		return r.err
	}
	return nil
}

func (r *Reader) readHeader() (*Header, error) {
	start := r.off
	if err := r.readFull(r.hdr[:], "header"); err != nil {
		return nil, err
	}
	magic := string(r.hdr[:6])
	if magic != magicNewc && magic != magicCheck {
		return nil, fmt.Errorf("%w: offset %d: bad magic %q, want %q (newc) or %q (newc with checksum)%s",
			ErrFormat, start, magic, magicNewc, magicCheck, magicHint(magic))
	}
	var f [13]uint32
	for i := range f {
		field := r.hdr[6+8*i : 14+8*i]
		v, ok := parseHex8(field)
		if !ok {
			return nil, fmt.Errorf("%w: offset %d: header field %s is %q, not 8 hex digits",
				ErrFormat, start+6+8*int64(i), fieldNames[i], field)
		}
		f[i] = v
	}
	h := &Header{
		Ino: f[0], Mode: f[1], UID: f[2], GID: f[3], NLink: f[4], MTime: int64(f[5]),
		Size: int64(f[6]), DevMajor: f[7], DevMinor: f[8], RDevMajor: f[9], RDevMinor: f[10],
		Check: f[12],
	}
	name, err := r.readName(start, int64(f[11]))
	if err != nil {
		return nil, err
	}
	h.Name = name
	if h.Name == Trailer {
		return nil, io.EOF
	}
	if err := r.startData(h, start, magic == magicCheck); err != nil {
		return nil, err
	}
	// The kernel's hard-link rule (init/initramfs.c maybe_link).
	if typ := h.Type(); h.NLink >= 2 && typ != TypeDir && typ != TypeSymlink {
		h.LinkKey = fmt.Sprintf("%d:%d:%d", h.DevMajor, h.DevMinor, h.Ino)
	}
	return h, nil
}

// readName reads the name of the header at offset start, namesize
// bytes with the NUL, and its padding.
func (r *Reader) readName(start, namesize int64) (string, error) {
	if namesize == 0 || namesize > maxNameSize {
		return "", fmt.Errorf("%w: offset %d: namesize %d out of range 1..%d", ErrFormat, start, namesize, maxNameSize)
	}
	var nb [maxNameSize + 3]byte
	name := nb[:namesize+pad4(HeaderSize+namesize)]
	if err := r.readFull(name, "name"); err != nil {
		return "", err
	}
	name = name[:namesize]
	// The kernel refuses names not ended by a NUL. Extra NULs are the
	// gen_init_cpio -a alignment padding; anything after them is junk.
	if name[namesize-1] != 0 {
		return "", fmt.Errorf("%w: offset %d: name %q is not NUL-terminated", ErrFormat, start+HeaderSize, name)
	}
	end := bytes.IndexByte(name, 0)
	if bytes.IndexFunc(name[end:], func(c rune) bool { return c != 0 }) >= 0 {
		return "", fmt.Errorf("%w: offset %d: name %q has bytes after its NUL", ErrFormat, start+HeaderSize, name)
	}
	if end == 0 {
		return "", fmt.Errorf("%w: offset %d: empty name", ErrFormat, start+HeaderSize)
	}
	return string(name[:end]), nil
}

// startData makes h, the header at offset start, the current entry,
// and reads a symlink's target into h.Linkname; checked says the
// archive has checksums.
func (r *Reader) startData(h *Header, start int64, checked bool) error {
	typ := h.Type()
	// Only regular files and symlinks have data. The kernel skips any
	// other record that has some, name and all, so the entry would not
	// exist; the writer refuses to write one.
	if h.Size != 0 && typ != TypeReg && typ != TypeSymlink {
		return fmt.Errorf("%w: offset %d: %q: a %s record carries %d bytes of data, which the kernel skips with the record",
			ErrFormat, start, h.Name, typeName(typ), h.Size)
	}
	r.cur = h
	r.remaining, r.pad = h.Size, pad4(h.Size)
	r.dataOff = r.off
	r.sum = 0
	// Like the kernel, verify only regular files: gen_init_cpio writes
	// check 0 for symlinks.
	r.verify = checked && typ == TypeReg
	if r.verify && h.Size == 0 {
		return r.checkSum()
	}
	if typ != TypeSymlink {
		return nil
	}
	if h.Size > PathMax+1 {
		return fmt.Errorf("%w: offset %d: %s: symlink target of %d bytes is longer than PATH_MAX",
			ErrFormat, start, h.Name, h.Size)
	}
	target := make([]byte, h.Size)
	if err := r.readFull(target, "symlink target of "+h.Name); err != nil {
		return err
	}
	r.remaining = 0
	// gen_init_cpio counts a NUL in the target, GNU cpio does not.
	target = bytes.TrimSuffix(target, []byte{0})
	if bytes.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("%w: offset %d: %s: symlink target %q contains a NUL byte",
			ErrFormat, r.dataOff, h.Name, target)
	}
	h.Linkname = string(target)
	return nil
}

// readFull reads len(p) bytes, turning a short read into an error that
// says what was being read and where.
func (r *Reader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = r.unexpectedEOF(what)
	}
	if err != nil {
		r.err = err
	}
	return err
}

func (r *Reader) unexpectedEOF(what string) error {
	return fmt.Errorf("cpiogen: offset %d: %w in %s (archive truncated or missing %s)",
		r.off, io.ErrUnexpectedEOF, what, Trailer)
}

var fieldNames = [13]string{"ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
	"devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"}

// magicHint explains the magics of cpio formats the kernel does not take.
func magicHint(m string) string {
	switch {
	case m == "070707":
		return "; this is the odc format, which the kernel refuses"
	case m[:2] == "\xc7\x71" || m[:2] == "\x71\xc7":
		return "; this is the old binary format, which the kernel refuses"
	}
	return ""
}

func parseHex8(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
