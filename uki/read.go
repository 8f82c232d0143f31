package uki

import (
	"bytes"
	"debug/pe"
	"errors"
	"fmt"
	"io"
)

// ErrNoSection is the error of a PE image that lacks the section asked
// for.
var ErrNoSection = errors.New("uki: no such section")

// ReadSection returns the data of the section k of the PE image r, without
// the zeros that pad it to the file alignment.
func ReadSection(r io.ReaderAt, k Kind) (*io.SectionReader, error) {
	f, err := pe.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPE, err)
	}
	defer f.Close()
	s := f.Section(k.String())
	if s == nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSection, k)
	}
	size := s.Size
	if s.VirtualSize != 0 && s.VirtualSize < size {
		size = s.VirtualSize
	}
	return io.NewSectionReader(r, int64(s.Offset), int64(size)), nil
}

// ReadInitrd returns the initrd of the UKI r. ok is false when r is not a PE
// image with an .initrd section: a caller that reads initrds then reads r
// itself as one. Image readers call it so that ls and diff read UKIs.
func ReadInitrd(r io.ReaderAt) (initrd *io.SectionReader, ok bool) {
	var magic [2]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], []byte("MZ")) {
		return nil, false
	}
	s, err := ReadSection(r, Initrd)
	return s, err == nil
}
