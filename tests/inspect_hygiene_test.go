package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// terminalSafe reports the first character of out a terminal would
// interpret (a control character other than the newline, invalid UTF-8
// or a character that does not print), or "" if there is none.
func terminalSafe(out string) string {
	for i, r := range out {
		if r == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD") || r != '\n' && !unicode.IsPrint(r) {
			return fmt.Sprintf("%q at byte %d", r, i)
		}
	}
	return ""
}

// jsonString is s as a JSON string, for manifests.
func jsonString(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	must(t, err)
	return string(b)
}

// TestInspectEscapesNames: ls, ls -l, diff and why print names and link
// targets that would recolour the terminal or fake lines escaped, as
// ls -b does; the JSON outputs keep them exact.
func TestInspectEscapesNames(t *testing.T) {
	root := t.TempDir()
	evil := "red\x1b[31m\nfake-line"
	target := "\x1b]0;title\x07"
	writeFiles(t, root, map[string]string{"data/" + evil: "x", "data/plain": "y"})
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.json")
	must(t, os.WriteFile(manifest, []byte(fmt.Sprintf(`{"contents": [{"source": %s}, {"source": "/data/plain"},
		{"target": "/l", "symlink": %s}]}`, jsonString(t, "/data/"+evil), jsonString(t, target))), 0o644))
	oldManifest := filepath.Join(dir, "old.json")
	must(t, os.WriteFile(oldManifest, []byte(`{"contents": [{"source": "/data/plain"}]}`), 0o644))
	img, old := filepath.Join(dir, "new.img"), filepath.Join(dir, "old.img")
	buildImage(t, manifest, root, img, "-c", "zstd")
	buildImage(t, oldManifest, root, old)

	escaped := `/data/red\033[31m\nfake-line`
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"ls", img}, []string{escaped + "\n"}},
		{[]string{"ls", "-l", img}, []string{escaped + "\n", `/l -> \033]0;title\a`}},
		{[]string{"diff", old, img}, []string{"  + ", escaped + "\n", `/l -> \033]0;title\a`}},
		{[]string{"diff", "--by", "dir", old, img}, []string{"/data "}},
		{[]string{"why", "/data/" + evil, "-m", manifest, "--root", root}, []string{escaped + ": "}},
	} {
		r := run(t, nil, tc.args...)
		if r.code != 0 {
			t.Errorf("%q: exit %d\n%s", tc.args, r.code, r.stderr)
			continue
		}
		if bad := terminalSafe(r.stdout); bad != "" {
			t.Errorf("%q prints %s:\n%q", tc.args, bad, r.stdout)
		}
		for _, want := range tc.want {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%q lacks %q:\n%s", tc.args, want, r.stdout)
			}
		}
	}

	ls := lsJSON(t, img)
	var names []string
	for _, e := range ls.Entries {
		names = append(names, e.Path+"|"+e.Link)
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "/data/"+evil+"|") || !strings.Contains(got, "/l|"+target) {
		t.Errorf("ls --json does not keep names exact: %q", got)
	}
	r := run(t, nil, "diff", "--json", old, img)
	var d diffJSON
	decodeJSON(t, r.stdout, &d)
	if len(d.Added) == 0 || d.Added[0].Path != "/data/"+evil {
		t.Errorf("diff --json added %+v, want %q first", d.Added, "/data/"+evil)
	}
}

// rawDirWithData is a newc archive holding a directory record that
// carries data, which the kernel skips and no writer of ours makes.
func rawDirWithData(name, data string) []byte {
	s := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		1, 0o040755, 0, 0, 2, 0, len(data), 0, 0, 0, 0, len(name)+1, 0) + name + "\x00"
	s += strings.Repeat("\x00", (4-len(s)%4)%4) + data + strings.Repeat("\x00", (4-len(data)%4)%4)
	trailer := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0) + "TRAILER!!!\x00"
	return []byte(s + trailer + strings.Repeat("\x00", (4-len(trailer)%4)%4))
}

// TestInspectHostileImages: ls and diff fail with an error that says
// what is wrong and where, quickly, on input that is no image or a
// broken one; the error is escaped as the listings are.
func TestInspectHostileImages(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	root, manifest := diffRoot(t, map[string]string{"etc/conf": "x"})
	buildImage(t, manifest, root, good, "-c", "gzip")
	goodBytes, err := os.ReadFile(good)
	must(t, err)
	zeros := make([]byte, 3<<20)
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"zeros", zeros, []string{"offset 0: inspect: too much zero padding: more than 1048576 zero bytes in a row"}},
		{"image then zeros", append(bytes.Clone(goodBytes), zeros...), []string{"too much zero padding"}},
		{"directory with data", rawDirWithData("etc", "junk"), []string{`"etc": a directory record carries 4 bytes of data`}},
		{"escaped error", rawDirWithData("e\x1b[2J", "junk"), []string{`a directory record carries`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".img")
			must(t, os.WriteFile(name, tc.data, 0o644))
			for _, args := range [][]string{{"ls", name}, {"ls", "-l", name}, {"diff", good, name}} {
				r := run(t, nil, args...)
				if r.code != 1 || strings.Contains(r.stderr, "no cpio or compressed data") {
					t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
				}
				for _, want := range tc.want {
					if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, name+": ") {
						t.Errorf("%q: stderr %q lacks %q after the image's name", args, r.stderr, want)
					}
				}
				if bad := terminalSafe(r.stderr); bad != "" {
					t.Errorf("%q: stderr has %s: %q", args, bad, r.stderr)
				}
			}
		})
	}
}

// endless is standard input that never ends, like /dev/zero.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestInspectLsEndlessInput: ls - on an endless stream of zeros stops
// with an error, where it used to spin.
func TestInspectLsEndlessInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "ls", "-")
	cmd.Stdin = endless{}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatal("ls - of an endless input still runs after a minute")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "<stdin>: offset 0: inspect: too much zero padding") {
		t.Errorf("ls -: %v, stderr %q", err, stderr.String())
	}
}

// TestInspectDiffUnsortedStdin: an image on standard input that is not
// sorted by path is read again from a copy, and diffs as the same file.
func TestInspectDiffUnsortedStdin(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"b/x": "1", "a/y": "2", "c": "3"})
	unsorted := cpioPiece(t, dir, "c", "b", "b/x", "a", "a/y")
	name := filepath.Join(dir, "unsorted.img")
	must(t, os.WriteFile(name, unsorted, 0o644))
	root, manifest := diffRoot(t, map[string]string{"a/y": "2", "c": "changed"})
	sorted := filepath.Join(dir, "sorted.img")
	buildImage(t, manifest, root, sorted, "-c", "zstd")

	want := run(t, nil, "diff", "--json", sorted, name)
	got := runCmd(t, nil, unsorted, exe, "diff", "--json", sorted, "-")
	if want.code != 0 || got.code != 0 {
		t.Fatalf("diff FILE: exit %d %s; diff -: exit %d %s", want.code, want.stderr, got.code, got.stderr)
	}
	var a, b diffJSON
	decodeJSON(t, want.stdout, &a)
	decodeJSON(t, got.stdout, &b)
	a.New.File, b.New.File = "", ""
	if !reflect.DeepEqual(a, b) || len(a.Added) != 2 {
		t.Errorf("diff of the file:\n%s\ndiff of standard input:\n%s", want.stdout, got.stdout)
	}
}
