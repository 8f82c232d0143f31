package mkinitrd

import (
	"io"
	"sync/atomic"
)

// Progress counts what a build has done, for a live display: Build adds
// to it as it goes (Options.Progress), and another goroutine reads it with
// Snapshot while the build runs. The zero value is ready to use, and a nil
// *Progress counts nothing.
type Progress struct {
	planned        atomic.Bool
	files          atomic.Int64
	total, in, out atomic.Int64
}

// ProgressSnapshot is a build's progress at one moment.
type ProgressSnapshot struct {
	// Resolved is true once the closure is resolved and the archive
	// planned; Files and Total are known from then.
	Resolved bool
	Files    int64 // entries in the image
	Total    int64 // bytes of the uncompressed archive
	// In is the bytes of archive written into the compressors so far; it
	// may pass Total when a cached segment is hashed, then compressed.
	In  int64
	Out int64 // bytes of image written
}

// Snapshot returns the progress so far (nothing for a nil *Progress).
func (p *Progress) Snapshot() ProgressSnapshot {
	if p == nil {
		return ProgressSnapshot{}
	}
	return ProgressSnapshot{Resolved: p.planned.Load(), Files: p.files.Load(), Total: p.total.Load(),
		In: p.in.Load(), Out: p.out.Load()}
}

// plan records the size of the image to write: files entries, in segs.
func (p *Progress) plan(files int, segs []segment) {
	if p == nil {
		return
	}
	var total int64
	for _, s := range segs {
		total += s.size
	}
	p.files.Store(int64(files))
	p.total.Store(total)
	p.planned.Store(true)
}

// archiving returns w, counting what is written through it as archive
// bytes going into a compressor.
func (p *Progress) archiving(w io.Writer) io.Writer {
	if p == nil {
		return w
	}
	return &progressWriter{w: w, n: &p.in}
}

// writing returns w, counting what is written through it as image bytes.
func (p *Progress) writing(w io.Writer) io.Writer {
	if p == nil {
		return w
	}
	return &progressWriter{w: w, n: &p.out}
}

// progressWriter adds what is written through it to a counter that other
// goroutines read.
type progressWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.n.Add(int64(n))
	return n, err
}
