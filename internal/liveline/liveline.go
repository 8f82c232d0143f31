// Package liveline draws one status line on a terminal and redraws it in
// place while work goes on: what a long build or a large image's reading
// shows on standard error. Output that goes through the Line's Writer
// clears the line first, so that warnings and summaries print on lines
// of their own.
package liveline

import (
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Terminal returns w as a terminal a live line can be drawn on: an
// *os.File that is a terminal, with $TERM not "dumb". A pipe, a file or a
// dumb terminal gets no control characters.
func Terminal(w io.Writer) (*os.File, bool) {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return nil, false
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil, false
	}
	return f, true
}

// Line is one status line, redrawn until Stop.
type Line struct {
	f      *os.File
	status func(elapsed time.Duration) string
	start  time.Time
	mu     sync.Mutex // orders drawing and writes through Writer
	shown  bool       // the line is on the screen
	stop   chan struct{}
	done   chan struct{}
}

// Start draws status on the terminal f every interval, from delay after
// now: work shorter than delay shows nothing. status gets the time since
// Start.
func Start(f *os.File, delay, interval time.Duration, status func(elapsed time.Duration) string) *Line {
	l := &Line{f: f, status: status, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run(delay, interval)
	return l
}

func (l *Line) run(delay, interval time.Duration) {
	defer close(l.done)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-l.stop:
		return
	case <-timer.C:
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		l.draw()
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
	}
}

// draw writes the status over the line, cut to the terminal's width so
// that it never wraps onto a second line.
func (l *Line) draw() {
	text := l.status(time.Since(l.start))
	l.mu.Lock()
	defer l.mu.Unlock()
	if ws, err := unix.IoctlGetWinsize(int(l.f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 1 {
		text = cut(text, int(ws.Col)-1)
	}
	io.WriteString(l.f, "\r\x1b[K"+text)
	l.shown = true
}

// clear erases the line if it is shown; l.mu is held.
func (l *Line) clear() {
	if l.shown {
		io.WriteString(l.f, "\r\x1b[K")
		l.shown = false
	}
}

// Stop stops the redrawing and erases the line. It returns once the line
// is gone, and may be called more than once.
func (l *Line) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	l.clear()
	l.mu.Unlock()
}

// Writer returns a writer to the terminal that erases the line before it
// writes; the next redraw puts the line back below what it wrote.
func (l *Line) Writer() io.Writer { return lineWriter{l} }

type lineWriter struct{ l *Line }

func (w lineWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.clear()
	return w.l.f.Write(p)
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n]))
}
