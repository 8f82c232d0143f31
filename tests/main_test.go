// Package tests holds the end-to-end tests: they run the built
// mkinitrd-ng binary and read its archives with real tools (GNU cpio,
// bsdtar, the compressors' CLIs) and real kernels under QEMU.
package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// exe is the mkinitrd-ng binary built once for all tests.
var exe string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mkinitrd-ng-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exe = filepath.Join(dir, "mkinitrd-ng")
	build := exec.Command("go", "build", "-o", exe, "../cmd/mkinitrd-ng")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mkinitrd-ng:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of a command gave.
type result struct {
	stdout, stderr string
	code           int
}

// run runs mkinitrd-ng with args and env added to the environment.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runCmd(t, env, nil, exe, args...)
}

func runCmd(t *testing.T, env []string, stdin []byte, name string, args ...string) result {
	t.Helper()
	return runCmdIn(t, "", env, stdin, name, args...)
}

// runCmdIn runs a command in dir ("" for the current one).
func runCmdIn(t *testing.T, dir string, env []string, stdin []byte, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{out.String(), errb.String(), code}
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := runCmd(t, nil, nil, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %v: exit %d\n%s", name, args, r.code, r.stderr)
	}
	return r.stdout
}

// writeFiles creates files under dir: path -> content ("->target" makes
// a symlink, a trailing "/" in the path a directory).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if p[len(p)-1] == '/' {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if len(content) > 2 && content[:2] == "->" {
			err = os.Symlink(content[2:], full)
		} else {
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
