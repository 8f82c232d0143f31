// Package ptytest opens pseudo-terminals for tests of what a program
// draws on a terminal, and collects what it drew.
package ptytest

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal: a program writes to Terminal, as to a
// terminal, and Output returns what it wrote.
type PTY struct {
	Terminal *os.File // the terminal side, for the program
	master   *os.File
	mu       sync.Mutex
	out      bytes.Buffer
	done     chan struct{}
}

// Open opens a pseudo-terminal and starts collecting its output, so that
// a program writing much is never blocked.
func Open() (*PTY, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, fmt.Errorf("ptytest: unlock: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("ptytest: terminal number: %w", err)
	}
	t, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, err
	}
	// Raw output: "\n" stays "\n", as a program wrote it.
	if tio, err := unix.IoctlGetTermios(int(t.Fd()), unix.TCGETS); err == nil {
		tio.Oflag &^= unix.OPOST
		unix.IoctlSetTermios(int(t.Fd()), unix.TCSETS, tio)
	}
	p := &PTY{Terminal: t, master: m, done: make(chan struct{})}
	go p.collect()
	return p, nil
}

func (p *PTY) collect() {
	defer close(p.done)
	buf := make([]byte, 32<<10)
	for {
		n, err := p.master.Read(buf)
		p.mu.Lock()
		p.out.Write(buf[:n])
		p.mu.Unlock()
		if err != nil { // EIO once every terminal side is closed
			return
		}
	}
}

// Output closes the terminal side (a program given it must have ended)
// and returns all that was written to it.
func (p *PTY) Output() string {
	p.Terminal.Close()
	<-p.done
	p.master.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
