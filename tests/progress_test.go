package tests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/ptytest"
)

// slowCompressor is a compressor that takes two seconds before gzip,
// so that a small build runs longer than the progress line's delay.
const slowCompressor = "cmd:sh -c 'sleep 2; exec gzip -c'"

// runWithStderr runs mkinitrd-ng with stdin, and stderr a
// pseudo-terminal or, with tty false, a pipe; it returns what stderr got.
func runWithStderr(t *testing.T, stdin io.Reader, tty bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "TERM=xterm")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if !tty {
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return stderr.String()
	}
	p, err := ptytest.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	cmd.Stderr = p.Terminal
	err = cmd.Run()
	out := p.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

// TestProgress: a build longer than a second shows one live line on a
// terminal (phase, files, bytes archived and written, rate, ETA), erased
// before the -v summary and at the end; never with --quiet, nor when
// stderr is a pipe. ls of an image shows its reading when its listing
// goes elsewhere.
func TestProgress(t *testing.T) {
	root, manifest := diffRoot(t, map[string]string{"usr/bin/tool": strings.Repeat("x", 200_000)})
	img := filepath.Join(t.TempDir(), "initrd.img")
	build := []string{"--manifest", manifest, "--root", root, "-o", img, "-c", slowCompressor}
	tests := []struct {
		name     string
		tty      bool
		args     []string
		has      []string
		noEscape bool
	}{
		{"terminal", true, build, []string{"\r\x1b[Kmkinitrd-ng: writing 3 files: ", " archived, ", " written", "/s, ETA "}, false},
		{"verbose", true, append(build, "-v"), []string{"\r\x1b[Kmkinitrd-ng: writing 3 files: ", "\r\x1b[K3 entries, "}, false},
		{"quiet", true, append(build, "--quiet", "-v"), []string{"3 entries, "}, true},
		{"pipe", false, append(build, "-v"), []string{"3 entries, "}, true},
		{"quick", true, []string{"--manifest", manifest, "--root", root, "-o", img, "-c", "gzip"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runWithStderr(t, nil, tt.tty, tt.args...)
			for _, s := range tt.has {
				if !strings.Contains(out, s) {
					t.Errorf("stderr lacks %q:\n%q", s, out)
				}
			}
			if tt.noEscape && strings.ContainsAny(out, "\r\x1b") {
				t.Errorf("stderr has a live line:\n%q", out)
			}
			// The line is erased at the end, or before the summary.
			last := out[strings.LastIndex(out, "\n")+1:]
			if !tt.noEscape && strings.Contains(last, "writing") && !strings.HasSuffix(last, "\r\x1b[K") {
				t.Errorf("the line is not erased at the end:\n%q", out)
			}
		})
	}
}

// slowReader gives its data a byte at a time, pausing after each.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	p[0], r.data = r.data[0], r.data[1:]
	return 1, nil
}

// TestProgressLs: ls of an image that takes over a second to read shows
// the bytes read and the rate (no ETA: standard input has no size) when
// the listing goes elsewhere than the terminal, and nothing with --quiet.
func TestProgressLs(t *testing.T) {
	root, manifest := diffRoot(t, map[string]string{"etc/a": "a"})
	img := filepath.Join(t.TempDir(), "initrd.img")
	buildImage(t, manifest, root, img, "-c", "gzip")
	data, err := os.ReadFile(img)
	must(t, err)
	pause := 1500 * time.Millisecond / time.Duration(len(data))
	out := runWithStderr(t, &slowReader{data: data, pause: pause}, true, "ls", "-")
	if !strings.Contains(out, "\r\x1b[Kmkinitrd-ng ls: reading <stdin>: ") || !strings.Contains(out, " read, ") {
		t.Errorf("no progress line:\n%q", out)
	}
	if out := runWithStderr(t, &slowReader{data: data, pause: pause}, true, "ls", "--quiet", "-"); out != "" {
		t.Errorf("--quiet: stderr %q", out)
	}
}
