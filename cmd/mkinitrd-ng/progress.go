package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/liveline"
)

// A live progress line shows once work has run progressDelay, so that a
// quick command leaves no trace, and is redrawn every progressInterval.
const (
	progressDelay    = time.Second
	progressInterval = 200 * time.Millisecond
)

// noProgress is the stop function of a command that shows no line.
func noProgress() {}

// showBuildProgress starts the live line of a build on stderr, when it is
// a terminal and quiet is false, and has the build count its progress in
// opts. It returns the writer for the build's other messages, which
// erases the line before they print, and what stops the line.
func showBuildProgress(quiet bool, opts *mkinitrd.Options, stderr io.Writer) (io.Writer, func()) {
	f, ok := liveline.Terminal(stderr)
	if quiet || !ok {
		return stderr, noProgress
	}
	p := new(mkinitrd.Progress)
	opts.Progress = p
	var writing time.Duration // when the writing began; the line's goroutine alone uses it
	l := liveline.Start(f, progressDelay, progressInterval, func(elapsed time.Duration) string {
		s := p.Snapshot()
		if !s.Resolved {
			return fmt.Sprintf("mkinitrd-ng: resolving the closure, %s", elapsed.Round(100*time.Millisecond))
		}
		if writing == 0 {
			writing = elapsed
		}
		in := min(s.In, s.Total)
		return fmt.Sprintf("mkinitrd-ng: writing %d files: %s of %s archived, %s written%s", s.Files,
			inspect.HumanSize(in), inspect.HumanSize(s.Total), inspect.HumanSize(s.Out), rateETA(in, s.Total, elapsed-writing))
	})
	return l.Writer(), l.Stop
}

// readProgress counts the bytes read of the images a command reads.
type readProgress struct{ n atomic.Int64 }

// wrap returns r, counting what is read through it. An io.ReaderAt
// stays one, for inspect.Reader's second reading, which is not counted.
func (p *readProgress) wrap(r io.ReadCloser) io.ReadCloser {
	c := &countingReader{r: r, n: &p.n}
	if ra, ok := r.(io.ReaderAt); ok {
		return countingReaderAt{c, ra}
	}
	return c
}

// opener returns open, counting what is read of what it opens.
func (p *readProgress) opener(open inspect.Opener) inspect.Opener {
	return func() (io.ReadCloser, error) {
		r, err := open()
		if err != nil {
			return nil, err
		}
		return p.wrap(r), nil
	}
}

// imagesSize is the bytes of the image files named, 0 when one is
// standard input or cannot be sized.
func imagesSize(names ...string) int64 {
	var total int64
	for _, name := range names {
		fi, err := os.Stat(name)
		if name == "-" || err != nil || !fi.Mode().IsRegular() {
			return 0
		}
		total += fi.Size()
	}
	return total
}

type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type countingReaderAt struct {
	*countingReader
	ra io.ReaderAt
}

func (c countingReaderAt) ReadAt(b []byte, off int64) (int, error) { return c.ra.ReadAt(b, off) }

// showReadProgress starts the live line of a command that reads images
// of total bytes (0 when unknown, as for standard input) and returns what
// counts the reading, the writer for the command's messages and what
// stops the line.
func showReadProgress(quiet bool, what string, total int64, stderr io.Writer) (*readProgress, io.Writer, func()) {
	p := new(readProgress)
	f, ok := liveline.Terminal(stderr)
	if quiet || !ok {
		return p, stderr, noProgress
	}
	l := liveline.Start(f, progressDelay, progressInterval, func(elapsed time.Duration) string {
		done := p.n.Load()
		if total <= 0 {
			return fmt.Sprintf("%s: %s read%s", what, inspect.HumanSize(done), rateETA(done, 0, elapsed))
		}
		done = min(done, total)
		return fmt.Sprintf("%s: %s of %s read%s", what, inspect.HumanSize(done), inspect.HumanSize(total), rateETA(done, total, elapsed))
	})
	return p, l.Writer(), l.Stop
}

// rateETA says how fast done bytes went in d and, with a total, when the
// rest will be done at that rate.
func rateETA(done, total int64, d time.Duration) string {
	if d < 100*time.Millisecond || done <= 0 {
		return ""
	}
	rate := float64(done) / d.Seconds()
	s := fmt.Sprintf(", %s/s", inspect.HumanSize(int64(rate)))
	if total > 0 {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		s += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	return s
}
