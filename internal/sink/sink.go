// Package sink keeps the error of the writer an archive is written to.
//
// An archive writer puts the entry it was writing in front of an error,
// and a copy the source file it was reading, though neither has anything
// to do with a failing compressor or a full disk. A Writer between the
// archive and its destination keeps the destination's first error, and
// Own gives it back in place of the error that carries it.
package sink

import "io"

// Writer passes writes on to W and keeps its first error.
type Writer struct {
	W   io.Writer
	err error
}

// Write writes p to W.
func (s *Writer) Write(p []byte) (int, error) {
	n, err := s.W.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// ReadFrom keeps W's ReadFrom, which reads file data into its own
// buffers; an error of reading r is not W's.
func (s *Writer) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := s.W.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{s}, r)
	}
	er := &errReader{r: r}
	n, err := rf.ReadFrom(er)
	if err != nil && er.err == nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// Err returns W's first error, nil when it has not failed.
func (s *Writer) Err() error { return s.err }

// Own returns W's error in place of err, which carries it with unrelated
// names in front; err itself when W has not failed.
func (s *Writer) Own(err error) error {
	if err != nil && s.err != nil {
		return s.err
	}
	return err
}

// errReader keeps the first error of reading r.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
