package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputs: each bad input gives a clear one-line error naming the
// problem, a non-zero exit, and leaves an existing output untouched.
func TestBadInputs(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		args     []string
		code     int
		want     []string // substrings of the error line
	}{
		{"missing source", `{"contents":[{"source":"/no/such/file"}]}`, nil, 1,
			[]string{"/no/such/file", "no such file or directory"}},
		{"bad JSON", "{\"contents\": [\n  {\"source\": \"/bin/sh\",}\n]}", nil, 1,
			[]string{"m.json: line 2, column 24", "invalid character '}'"}},
		{"unknown field", `{"contents":[{"sourc":"/bin/sh"}]}`, nil, 1,
			[]string{"m.json", `unknown field "sourc"`}},
		{"trailing data", `{"contents":[]} {}`, nil, 1,
			[]string{"m.json: line 1, column", "after the JSON value"}},
		{"conflicting duplicate", `{"contents":[{"target":"/etc/a","text":"x"},{"target":"/etc/a","text":"y"}]}`, nil, 1,
			[]string{"contents[0] (/etc/a) and contents[1] (/etc/a) both define /etc/a"}},
		{"bad mode", `{"contents":[{"target":"/a","text":"x","mode":"0999"}]}`, nil, 1,
			[]string{"contents[0]", `mode "0999"`}},
		{"device without major", `{"contents":[{"target":"/dev/x","type":"char","minor":1}]}`, nil, 1,
			[]string{"contents[0]", `type "char" needs "major" and "minor"`}},
		{"relative target", `{"contents":[{"target":"etc/a","text":"x"}]}`, nil, 1,
			[]string{"contents[0]", `target "etc/a" is not an absolute path`}},
		{"dotdot target", `{"contents":[{"target":"/etc/../a","text":"x"}]}`, nil, 1,
			[]string{`holds ".."`}},
		{"mixed kinds", `{"contents":[{"target":"/a","text":"x","symlink":"b"}]}`, nil, 1,
			[]string{"contents[0]", "mixes text and symlink"}},
		{"source is a FIFO", `{"contents":[{"source":"/fifo"}]}`, nil, 1,
			[]string{"/fifo", "FIFO"}},
		{"failing external compressor", `{"contents":[{"target":"/a","text":"x"}]}`, []string{"-c", "cmd:sh -c 'cat >/dev/null; echo broken >&2; exit 3'"}, 1,
			[]string{"exit status 3"}},
		{"unknown compressor", `{"contents":[]}`, []string{"-c", "brotli"}, 2,
			[]string{"brotli"}},
		{"level out of range", `{"contents":[]}`, []string{"-c", "gzip", "--level", "42"}, 2,
			[]string{"42"}},
		{"bad epoch", `{"contents":[]}`, []string{"--source-date-epoch", "yesterday"}, 2,
			[]string{"--source-date-epoch", "yesterday"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			writeFiles(t, root, map[string]string{"bin/sh": "sh"})
			must(t, mkfifo(filepath.Join(root, "fifo")))
			m := filepath.Join(dir, "m.json")
			must(t, os.WriteFile(m, []byte(tt.manifest), 0o644))
			out := filepath.Join(dir, "initrd.img")
			must(t, os.WriteFile(out, []byte("OLD"), 0o644))
			args := append([]string{"-m", m, "-o", out, "--root", root}, tt.args...)
			r := run(t, nil, args...)
			checkFailure(t, r, tt.code, tt.want)
			if data, _ := os.ReadFile(out); string(data) != "OLD" {
				t.Errorf("the existing output was changed to %d bytes", len(data))
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 3 {
				t.Errorf("left files behind: %v", entries)
			}
		})
	}
}

func checkFailure(t *testing.T, r result, code int, want []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	first := strings.SplitN(strings.TrimSpace(r.stderr), "\n", 2)[0]
	for _, w := range want {
		if !strings.Contains(first, w) {
			t.Errorf("error %q lacks %q", first, w)
		}
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("panic text in stderr: %s", r.stderr)
	}
}

func mkfifo(p string) error { return exec.Command("mkfifo", p).Run() }

// TestUnreadableSource runs as an unprivileged user, since root reads
// any file whatever its mode.
func TestUnreadableSource(t *testing.T) {
	dir, err := os.MkdirTemp("", "unreadable")
	must(t, err)
	defer os.RemoveAll(dir)
	must(t, os.Chmod(dir, 0o777))
	writeFiles(t, dir, map[string]string{"root/secret": "no"})
	must(t, os.Chmod(filepath.Join(dir, "root"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "root/secret"), 0o600))
	m := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(m, []byte(`{"contents":[{"source":"/secret"}]}`), 0o644))
	args := []string{"-m", m, "-o", filepath.Join(dir, "out"), "--root", filepath.Join(dir, "root")}
	var r result
	if os.Geteuid() == 0 {
		r = runCmd(t, nil, nil, "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", exe}, args...)...)
	} else {
		r = run(t, nil, args...)
	}
	checkFailure(t, r, 1, []string{"/secret", "permission denied"})
}
