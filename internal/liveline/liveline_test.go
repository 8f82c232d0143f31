package liveline

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/ptytest"
)

func openPTY(t *testing.T) *ptytest.PTY {
	t.Helper()
	p, err := ptytest.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return p
}

// TestTerminal: a pseudo-terminal is one; a pipe, a regular file, a
// buffer and a dumb terminal are not.
func TestTerminal(t *testing.T) {
	p := openPTY(t)
	defer p.Output()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/f")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tests := []struct {
		name string
		w    any
		term string
		want bool
	}{
		{"pty", p.Terminal, "xterm", true},
		{"dumb pty", p.Terminal, "dumb", false},
		{"pipe", w, "xterm", false},
		{"file", file, "xterm", false},
		{"buffer", &strings.Builder{}, "xterm", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TERM", tt.term)
			wr, _ := tt.w.(interface{ Write([]byte) (int, error) })
			if _, got := Terminal(wr); got != tt.want {
				t.Errorf("Terminal = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLine: the line is drawn after the delay, redrawn in place, erased
// before what goes through Writer and at Stop.
func TestLine(t *testing.T) {
	p := openPTY(t)
	var n atomic.Int64
	l := Start(p.Terminal, 20*time.Millisecond, 5*time.Millisecond, func(time.Duration) string {
		return fmt.Sprintf("step %d", n.Add(1))
	})
	for n.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	fmt.Fprintln(l.Writer(), "warning: something")
	for n.Load() < 6 {
		time.Sleep(time.Millisecond)
	}
	l.Stop()
	l.Stop()
	out := p.Output()
	if !strings.HasPrefix(out, "\r\x1b[Kstep 1\r\x1b[Kstep 2") {
		t.Errorf("output starts %q, want the line redrawn in place", out[:min(len(out), 40)])
	}
	if !strings.Contains(out, "\r\x1b[Kwarning: something\n") {
		t.Errorf("the line is not erased before the warning: %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("the line is not erased at Stop: %q", out)
	}
}

// TestLineQuick: work that stops before the delay draws nothing.
func TestLineQuick(t *testing.T) {
	p := openPTY(t)
	l := Start(p.Terminal, time.Hour, time.Millisecond, func(time.Duration) string { return "never" })
	fmt.Fprint(l.Writer(), "done\n")
	l.Stop()
	if out := p.Output(); out != "done\n" {
		t.Errorf("output %q, want only what was written", out)
	}
}

// TestCut: a line longer than the terminal is cut, by characters.
func TestCut(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"é€abc", 2, "é€"}, {"ab cd", 3, "ab"}} {
		if got := cut(tt.s, tt.n); got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
