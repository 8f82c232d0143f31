package cpiogen

import (
	"fmt"
	"io"
	"strings"
)

// BoundaryMarker is implemented by an underlying writer that wants to know
// where entries end. The kernel requires every compressed segment of an
// initramfs to end on an entry boundary, so a compressor that cuts the
// stream into independently compressed pieces may cut only when
// EntryBoundary is called. The Writer calls it after each complete entry
// (header, name, data and padding all written) and after the trailer and
// the final 512-byte padding. An error it returns stops the Writer.
type BoundaryMarker interface {
	EntryBoundary() error
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithChecksum makes the Writer emit 070702 records (newc with a data
// checksum, gen_init_cpio -c) instead of 070701. Every regular file's
// Header.Check must then hold the checksum of its data.
func WithChecksum(on bool) WriterOption {
	return func(w *Writer) { w.checksum = on }
}

// WithDataAlign makes the Writer pad the name of each regular file larger
// than align bytes with extra NULs so that its data starts at an offset
// that is a multiple of align, as gen_init_cpio -a does (useful for
// filesystems that can then map the data in place). Like gen_init_cpio it
// is best effort: if the padded namesize would exceed PathMax, the entry is
// left unaligned. align must be 0 (off) or a power of two >= 4; other
// values make every WriteHeader fail.
func WithDataAlign(align int) WriterOption {
	return func(w *Writer) { w.align = int64(align) }
}

// WithGivenInodes makes the Writer take each record's inode number from
// Header.Ino instead of numbering in write order: a caller that derives
// the numbers from the entries themselves can then write any part of an
// archive without the parts before it. Every name of a hard-link group
// must carry the group's number, and no number may be 0.
func WithGivenInodes() WriterOption {
	return func(w *Writer) { w.givenIno = true }
}

// Writer writes a newc archive. Call WriteHeader for each entry, then Write
// (or ReadFrom) exactly Size bytes of data for regular files, and Close at
// the end. Inode numbers are assigned in write order from 721 (unless
// WithGivenInodes) and device fields are 3:1, as gen_init_cpio does.
type Writer struct {
	w        io.Writer
	marker   BoundaryMarker
	checksum bool
	align    int64
	givenIno bool

	off     int64
	nextIno uint32
	links   map[string]linkGroup
	buf     []byte // header scratch
	copyBuf []byte // ReadFrom's buffer, allocated once: io.Copy would allocate one per file

	// The entry being written.
	name      string
	remaining int64  // data bytes still to come
	size      int64  // the entry's data size
	sum       uint32 // running checksum of the data written
	want      uint32 // Header.Check, verified when the data is complete
	verify    bool   // checksums on and the entry is a regular file

	err    error // sticky: once set every call returns it
	closed bool
}

// linkGroup is what the Writer remembers of a hard-link group.
type linkGroup struct {
	first string
	ino   uint32
	typ   uint32
	nlink uint32
}

// copyBufSize is the size of ReadFrom's reads when the underlying writer
// cannot take the data itself (it is no *os.File): large enough for
// sequential reads, small next to a compressor's segment.
const copyBufSize = 128 << 10

// NewWriter returns a Writer writing an archive to w.
func NewWriter(w io.Writer, opts ...WriterOption) *Writer {
	tw := &Writer{w: w, nextIno: firstIno, links: map[string]linkGroup{}}
	tw.marker, _ = w.(BoundaryMarker)
	for _, o := range opts {
		o(tw)
	}
	return tw
}

// Offset returns the number of bytes written to the underlying writer so far.
func (w *Writer) Offset() int64 { return w.off }

// State is where a Writer stands between two entries: its offset and the
// inode numbers it has handed out. A Writer that NewWriterAt starts from
// it goes on with the same archive, so that pieces of one archive can be
// written apart, even concurrently, and concatenated: a Writer laid over
// io.Discard with Skip finds each piece's State without writing any data.
type State struct {
	off     int64
	nextIno uint32
	links   map[string]linkGroup
}

// Offset is the offset in the archive at which the state stands.
func (s State) Offset() int64 { return s.off }

// State returns where the Writer stands. Between entries it is the state
// the next entry starts from; in an entry's data it is not meaningful.
func (w *Writer) State() State {
	links := make(map[string]linkGroup, len(w.links))
	for k, g := range w.links {
		links[k] = g
	}
	return State{off: w.off, nextIno: w.nextIno, links: links}
}

// NewWriterAt returns a Writer that writes the rest of an archive from s
// to w: offsets, padding, inode numbers and hard links go on as if the
// archive before s had been written to w too. The zero State is the start
// of an archive, the same as NewWriter.
func NewWriterAt(w io.Writer, s State, opts ...WriterOption) *Writer {
	tw := NewWriter(w, opts...)
	if s.nextIno != 0 {
		tw.off, tw.nextIno = s.off, s.nextIno
		for k, g := range s.links {
			tw.links[k] = g
		}
	}
	return tw
}

// Skip ends the current regular file as if the rest of its data and its
// padding had been written, without writing them. It is for laying an
// archive out over io.Discard (see State); what a Writer that skips
// writes is not an archive. Between entries Skip does nothing.
func (w *Writer) Skip() error {
	if w.err != nil {
		return w.err
	}
	if w.remaining == 0 {
		return nil
	}
	w.off += w.remaining + pad4(w.size)
	w.remaining, w.verify = 0, false
	return w.boundary()
}

// WriteHeader writes h's record header and name, and for a symlink its data
// (Linkname plus a NUL, the gen_init_cpio convention). It fills in h.Ino,
// h.DevMajor, h.DevMinor and, for a symlink, h.Size. A regular file's data
// must follow through Write or ReadFrom.
//
// An invalid header is reported without writing anything, and the Writer
// stays usable. Errors that leave a broken archive behind (the previous
// entry's data incomplete, I/O errors) stop the Writer.
func (w *Writer) WriteHeader(h *Header) error {
	if w.err != nil {
		return w.err
	}
	if err := w.checkComplete(); err != nil {
		return err
	}
	if err := w.validate(h); err != nil {
		return err
	}
	r, err := w.layout(h)
	if err != nil {
		return err
	}
	w.buf = w.appendRecord(w.buf[:0], h, &r)
	if err := w.write(w.buf); err != nil {
		return err
	}
	return w.begin(h, &r)
}

// record is an entry's header as the Writer writes it: the fields that
// the Header leaves implicit, worked out by layout.
type record struct {
	typ      uint32
	ino      uint32
	nlink    uint32
	size     int64     // the data size: for a symlink, its target and a NUL
	check    uint32    // the checksum field: 0 unless a regular file is summed
	namesize int64     // the name, its NUL and any NULs that align the data
	namePad  int64     // the NULs after namesize that pad the name to 4 bytes
	group    linkGroup // h.LinkKey's hard-link group, once the entry is in it
}

// layout works out h's record: its implicit fields, its inode number and
// where its name ends. A hard link that does not match its group is an
// error, and leaves the Writer as it was.
func (w *Writer) layout(h *Header) (record, error) {
	r := record{typ: h.Type(), size: h.Size, nlink: h.NLink}
	switch r.typ {
	case TypeSymlink:
		r.size = int64(len(h.Linkname)) + 1
	case TypeReg:
		if w.checksum && r.size > 0 {
			r.check = h.Check
		}
	}
	if r.nlink == 0 {
		r.nlink = 1
		if r.typ == TypeDir {
			r.nlink = 2
		}
	}
	if err := w.number(h, &r); err != nil {
		return record{}, err
	}
	w.layoutName(h, &r)
	return r, nil
}

// number gives r its inode number: the given one, else the next one, or
// for a later name of a hard-link group the group's. The kernel links
// only entries of the same type with the same nlink of at least 2, so a
// name that differs from its group is an error.
func (w *Writer) number(h *Header, r *record) error {
	r.ino = w.nextIno
	if w.givenIno {
		if h.Ino == 0 {
			return headerError(h, "inode number 0 (every record needs one)")
		}
		r.ino = h.Ino
	}
	if h.LinkKey == "" {
		return nil
	}
	g, ok := w.links[h.LinkKey]
	switch {
	case !ok:
		g = linkGroup{first: h.Name, ino: r.ino, typ: r.typ, nlink: r.nlink}
	case w.givenIno && g.ino != r.ino:
		return fmt.Errorf("%w: %s: hard link to %s: inode %d vs %d (every name of a group has its number)",
			ErrHeader, h.Name, g.first, r.ino, g.ino)
	case g.typ != r.typ:
		return fmt.Errorf("%w: %s: hard link to %s: %s vs %s (the kernel links only entries of the same type)",
			ErrHeader, h.Name, g.first, typeName(r.typ), typeName(g.typ))
	case g.nlink < 2 || r.nlink != g.nlink:
		return fmt.Errorf("%w: %s: hard link to %s: nlink %d vs %d; every name needs the same NLink >= 2 (the kernel links only entries with nlink >= 2)",
			ErrHeader, h.Name, g.first, r.nlink, g.nlink)
	default:
		r.ino = g.ino
	}
	r.group = g
	return nil
}

// layoutName sets r's namesize and the padding after the name. With
// WithDataAlign a regular file's name takes the NULs that align its data,
// inside namesize as gen_init_cpio -a puts them, so that the kernel still
// sees a NUL-terminated name; a name that would then exceed PathMax is
// left unaligned.
func (w *Writer) layoutName(h *Header, r *record) {
	r.namesize = int64(len(h.Name)) + 1
	r.namePad = pad4(HeaderSize + r.namesize)
	if w.align > 0 && r.typ == TypeReg && r.size > w.align {
		p := (w.align - (w.off+HeaderSize+r.namesize)%w.align) % w.align
		if r.namesize+p <= PathMax {
			r.namesize += p
			r.namePad = 0
		}
	}
}

// appendRecord appends h's record to b: the header, the name and its
// padding, and for a symlink its data and padding.
func (w *Writer) appendRecord(b []byte, h *Header, r *record) []byte {
	b = w.appendFields(b, [...]uint32{r.ino, h.Mode, h.UID, h.GID, r.nlink, uint32(h.MTime), uint32(r.size),
		devMajor, devMinor, h.RDevMajor, h.RDevMinor, uint32(r.namesize), r.check})
	b = append(b, h.Name...)
	b = append(b, make([]byte, r.namesize-int64(len(h.Name))+r.namePad)...)
	if r.typ == TypeSymlink {
		b = append(b, h.Linkname...)
		b = append(b, 0)
		b = append(b, make([]byte, pad4(r.size))...)
	}
	return b
}

// appendFields appends a header's magic and its thirteen fields, in
// newc's order, to b.
func (w *Writer) appendFields(b []byte, fields [13]uint32) []byte {
	if w.checksum {
		b = append(b, magicCheck...)
	} else {
		b = append(b, magicNewc...)
	}
	for _, v := range fields {
		b = appendHex8(b, v)
	}
	return b
}

// begin makes h, whose record is written, the current entry: it takes
// the inode number and the hard-link group, fills in h's implicit fields
// and waits for a regular file's data, or ends any other entry.
func (w *Writer) begin(h *Header, r *record) error {
	if h.LinkKey != "" {
		w.links[h.LinkKey] = r.group
	}
	if r.ino == w.nextIno && !w.givenIno {
		w.nextIno++
	}
	h.Ino, h.DevMajor, h.DevMinor = r.ino, devMajor, devMinor
	if r.typ == TypeSymlink {
		h.Size = r.size
	}
	w.name = h.Name
	w.size, w.remaining = 0, 0
	w.sum, w.want, w.verify = 0, r.check, w.checksum && r.typ == TypeReg
	if r.typ == TypeReg && r.size > 0 {
		w.size, w.remaining = r.size, r.size
		return nil
	}
	return w.boundary()
}

// validate checks the Writer's data alignment and everything about h
// that the Writer can check before writing a byte, apart from the
// hard-link group, which layout checks.
func (w *Writer) validate(h *Header) error {
	if w.align != 0 && (w.align < 4 || w.align&(w.align-1) != 0 || w.align > 1<<32) {
		return fmt.Errorf("%w: data alignment %d is not a power of two >= 4", ErrHeader, w.align)
	}
	if err := validateName(h); err != nil {
		return err
	}
	bad := func(format string, args ...any) error { return headerError(h, format, args...) }
	typ := h.Type()
	switch typ {
	case TypeReg, TypeDir, TypeSymlink, TypeChar, TypeBlock, TypeFIFO, TypeSocket:
	default:
		return bad("mode %#o has no valid file type", h.Mode)
	}
	if h.Mode&^(TypeMask|ModePerm) != 0 {
		return bad("mode %#o has bits beyond the file type and permissions", h.Mode)
	}
	if h.MTime < 0 || h.MTime > MaxSize {
		return bad("mtime %d does not fit newc's 32-bit field (0..%d)", h.MTime, int64(MaxSize))
	}
	if typ == TypeReg {
		if h.Size < 0 {
			return bad("negative size %d", h.Size)
		}
		if h.Size > MaxSize {
			return fmt.Errorf("%s: %w: %d bytes (limit 4 GiB - 1)", h.Name, ErrFileTooLarge, h.Size)
		}
		if w.checksum && h.Size == 0 && h.Check != 0 {
			return bad("checksum %#x given for empty data (must be 0)", h.Check)
		}
	} else if typ != TypeSymlink && h.Size != 0 {
		return bad("a %s cannot have data (size %d)", typeName(typ), h.Size)
	}
	if typ == TypeSymlink {
		switch {
		case h.Linkname == "":
			return bad("symlink with an empty target")
		case strings.IndexByte(h.Linkname, 0) >= 0:
			return bad("symlink target contains a NUL byte")
		case len(h.Linkname)+1 > PathMax:
			return bad("symlink target is %d bytes, longer than PATH_MAX (%d, counting the NUL)", len(h.Linkname), PathMax)
		}
	} else if h.Linkname != "" {
		return bad("a %s cannot have a link target (%q)", typeName(typ), h.Linkname)
	}
	if h.RDevMajor > MaxMajor || h.RDevMinor > MaxMinor {
		return bad("device %d:%d is out of Linux's range (major at most %d, minor at most %d)", h.RDevMajor, h.RDevMinor, MaxMajor, MaxMinor)
	}
	if typ != TypeChar && typ != TypeBlock && (h.RDevMajor != 0 || h.RDevMinor != 0) {
		return bad("a %s cannot have a device number (%d:%d)", typeName(typ), h.RDevMajor, h.RDevMinor)
	}
	if h.LinkKey != "" && (typ == TypeDir || typ == TypeSymlink) {
		return bad("the kernel cannot hard-link a %s", typeName(typ))
	}
	return nil
}

// validateName checks h.Name: a relative path the kernel can create.
func validateName(h *Header) error {
	switch {
	case h.Name == "":
		return fmt.Errorf("%w: empty name", ErrHeader)
	case strings.IndexByte(h.Name, 0) >= 0:
		return headerError(h, "name contains a NUL byte")
	case len(h.Name)+1 > PathMax:
		return headerError(h, "name is %d bytes, longer than PATH_MAX (%d, counting the NUL)", len(h.Name), PathMax)
	case h.Name[0] == '/':
		return headerError(h, "name must be relative to the archive root (no leading /)")
	case h.Name == Trailer:
		return headerError(h, "name would end the archive")
	}
	return nil
}

// headerError is an ErrHeader that names h.
func headerError(h *Header, format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrHeader, h.Name, fmt.Sprintf(format, args...))
}

// Write writes data of the current regular file. Writing more than the
// Size given to WriteHeader writes what fits and fails with ErrWriteTooLong.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	over := int64(len(p)) > w.remaining
	if over {
		p = p[:w.remaining]
	}
	n := 0
	if len(p) > 0 {
		if err := w.write(p); err != nil {
			return 0, err
		}
		n = len(p)
		if err := w.data(p); err != nil {
			return n, err
		}
	}
	if over {
		return n, w.tooLong()
	}
	return n, nil
}

// ReadFrom copies the current regular file's data from r, letting the
// underlying writer use copy_file_range or sendfile when checksums are
// off. Data in r beyond the entry's Size fails with ErrWriteTooLong; r
// running dry early leaves the entry incomplete, which the next
// WriteHeader or Close reports. Any error stops the Writer: part of the
// data may have been written.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	var n int64
	if w.remaining > 0 {
		// io.Copy straight to the underlying writer (not to w, which would
		// recurse), with the LimitedReader that *os.File's ReadFrom
		// recognises for copy_file_range.
		var src io.Reader = &io.LimitedReader{R: r, N: w.remaining}
		if w.verify {
			src = io.TeeReader(src, (*checksum)(&w.sum))
		}
		if w.copyBuf == nil {
			w.copyBuf = make([]byte, copyBufSize)
		}
		var err error
		n, err = io.CopyBuffer(w.w, src, w.copyBuf)
		w.off += n
		w.remaining -= n
		if err != nil {
			w.err = fmt.Errorf("%s: %w", w.name, err)
			return n, w.err
		}
		if w.remaining > 0 {
			return n, nil
		}
		if err := w.finish(); err != nil {
			return n, err
		}
	}
	var probe [1]byte
	for {
		m, err := r.Read(probe[:])
		if m > 0 {
			return n, w.tooLong()
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			w.err = fmt.Errorf("%s: %w", w.name, err)
			return n, w.err
		}
	}
}

// Close checks that the last entry is complete, writes the TRAILER!!!
// record and pads the archive to a multiple of 512 bytes, as gen_init_cpio
// does. It does not close the underlying writer. Closing twice is a no-op.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if err := w.checkComplete(); err != nil {
		return err
	}
	// gen_init_cpio's trailer: everything 0 but nlink 1 and namesize.
	b := w.appendFields(w.buf[:0], [...]uint32{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, uint32(len(Trailer) + 1), 0})
	b = append(b, Trailer...)
	b = append(b, make([]byte, 1+pad4(HeaderSize+int64(len(Trailer))+1))...)
	end := w.off + int64(len(b))
	b = append(b, make([]byte, (512-end%512)%512)...)
	w.buf = b
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.boundary(); err != nil {
		return err
	}
	w.closed = true
	w.err = ErrWriteAfterClose
	return nil
}

// data accounts for p, just written as file data, and finishes the entry
// when it is complete.
func (w *Writer) data(p []byte) error {
	w.remaining -= int64(len(p))
	if w.verify {
		w.sum = sumBytes(w.sum, p)
	}
	if w.remaining == 0 {
		return w.finish()
	}
	return nil
}

// finish ends a regular file whose data is all written: it verifies the
// checksum, writes the padding and marks the boundary.
func (w *Writer) finish() error {
	if w.verify && w.sum != w.want {
		w.err = fmt.Errorf("%s: %w: header says %#08x, data sums to %#08x", w.name, ErrChecksum, w.want, w.sum)
		return w.err
	}
	if p := pad4(w.size); p > 0 {
		var zeros [3]byte
		if err := w.write(zeros[:p]); err != nil {
			return err
		}
	}
	return w.boundary()
}

func (w *Writer) tooLong() error {
	w.err = fmt.Errorf("%s: %w (size %d)", w.name, ErrWriteTooLong, w.size)
	return w.err
}

func (w *Writer) checkComplete() error {
	if w.remaining > 0 {
		w.err = fmt.Errorf("%s: %w: wrote %d of %d bytes", w.name, ErrIncomplete, w.size-w.remaining, w.size)
		return w.err
	}
	return nil
}

func (w *Writer) boundary() error {
	if w.marker == nil {
		return nil
	}
	if err := w.marker.EntryBoundary(); err != nil {
		w.err = fmt.Errorf("cpiogen: entry boundary after %s: %w", w.name, err)
		return w.err
	}
	return nil
}

// write writes p to the underlying writer; any failure stops the Writer,
// since the archive is then broken.
func (w *Writer) write(p []byte) error {
	n, err := w.w.Write(p)
	w.off += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}

const hexDigits = "0123456789ABCDEF"

// appendHex8 appends v as 8 uppercase hex digits (gen_init_cpio's %08X).
func appendHex8(b []byte, v uint32) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[v>>uint(shift)&0xF])
	}
	return b
}
