package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// badInput is one entry of the catalogue of bad inputs.
type badInput struct {
	name     string
	manifest string
	args     []string
	setup    func(t *testing.T, root string) // builds more of the root
	code     int
	want     []string // substrings of the first error line
	reject   []string // not in the error: unrelated paths
}

// TestBadInputs: each bad input gives a clear one-line error naming the
// file or field and the problem, a non-zero exit, no panic, and leaves an
// existing output untouched with nothing left behind.
func TestBadInputs(t *testing.T) {
	tests := append(append(manifestCases(), filesystemCases()...), append(elfCases(), unitCases()...)...)
	tests = append(tests, externalCases()...)
	if len(tests) < 30 {
		t.Fatalf("the catalogue has %d cases, want at least 30", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			writeFiles(t, root, map[string]string{"bin/sh": "sh", "etc/": ""})
			must(t, mkfifo(filepath.Join(root, "fifo")))
			if tt.setup != nil {
				tt.setup(t, root)
			}
			m := filepath.Join(dir, "m.json")
			must(t, os.WriteFile(m, []byte(tt.manifest), 0o644))
			out := filepath.Join(dir, "initrd.img")
			must(t, os.WriteFile(out, []byte("OLD"), 0o644))
			args := append([]string{"-m", m, "-o", out, "--root", root}, tt.args...)
			r := run(t, nil, args...)
			checkFailure(t, r, tt.code, tt.want)
			for _, w := range tt.reject {
				if strings.Contains(r.stderr, w) {
					t.Errorf("error %q names %q", r.stderr, w)
				}
			}
			if data, _ := os.ReadFile(out); string(data) != "OLD" {
				t.Errorf("the existing output was changed to %d bytes", len(data))
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 3 {
				t.Errorf("left files behind: %v", entries)
			}
		})
	}
}

func manifestCases() []badInput {
	return []badInput{
		{name: "bad JSON", manifest: "{\"contents\": [\n  {\"source\": \"/bin/sh\",}\n]}", code: 1,
			want: []string{"m.json: line 2, column 24", "invalid character '}'"}},
		{name: "unknown field", manifest: `{"contents":[{"sourc":"/bin/sh"}]}`, code: 1,
			want: []string{"m.json", `unknown field "sourc"`}},
		{name: "wrong type", manifest: `{"contents":[{"source":true}]}`, code: 1,
			want: []string{"m.json: line 1", "contents.source: a JSON bool cannot be a string"}},
		{name: "trailing data", manifest: `{"contents":[]} {}`, code: 1,
			want: []string{"m.json: line 1, column", "after the JSON value"}},
		{name: "conflicting duplicate", manifest: `{"contents":[{"target":"/etc/a","text":"x"},{"target":"/etc/a","text":"y"}]}`, code: 1,
			want: []string{"contents[0] (/etc/a) and contents[1] (/etc/a) both define /etc/a"}},
		{name: "bad mode", manifest: `{"contents":[{"target":"/a","text":"x","mode":"0999"}]}`, code: 1,
			want: []string{"contents[0]", `mode "0999"`}},
		{name: "device without major", manifest: `{"contents":[{"target":"/dev/x","type":"char","minor":1}]}`, code: 1,
			want: []string{"contents[0]", `type "char" needs "major" and "minor"`}},
		{name: "relative target", manifest: `{"contents":[{"target":"etc/a","text":"x"}]}`, code: 1,
			want: []string{"contents[0]", `target "etc/a" is not an absolute path`}},
		{name: "dotdot target", manifest: `{"contents":[{"target":"/etc/../a","text":"x"}]}`, code: 1,
			want: []string{`holds ".."`}},
		{name: "mixed kinds", manifest: `{"contents":[{"target":"/a","text":"x","symlink":"b"}]}`, code: 1,
			want: []string{"contents[0]", "mixes text and symlink"}},
		{name: "bad dlopen priority", manifest: `{"dlopen":{"priority":"always"}}`, code: 1,
			want: []string{"m.json", `priority "always"`}},
		{name: "name longer than NAME_MAX", manifest: `{"contents":[{"target":"/` + strings.Repeat("n", 300) + `","text":"x"}]}`, code: 1,
			want: []string{"longer than NAME_MAX (255)"}},
		{name: "path longer than PATH_MAX", manifest: `{"contents":[{"target":"` + strings.Repeat("/dir", 1100) + `","text":"x"}]}`, code: 1,
			want: []string{"longer than PATH_MAX (4095)"}},
		{name: "failing external compressor", manifest: `{"contents":[{"target":"/a","text":"x"}]}`,
			args: []string{"-c", "cmd:sh -c 'cat >/dev/null; echo broken >&2; exit 3'"}, code: 1,
			want: []string{"exit status 3", "broken"}},
		{name: "unknown compressor", manifest: `{"contents":[]}`, args: []string{"-c", "brotli"}, code: 2,
			want: []string{"brotli"}},
		{name: "level out of range", manifest: `{"contents":[]}`, args: []string{"-c", "gzip", "--level", "42"}, code: 2,
			want: []string{"42"}},
		{name: "level not a number", manifest: `{"contents":[]}`, args: []string{"-c", "xz-cli", "--level", "fast"}, code: 2,
			want: []string{"--level", `"fast"`, "max"}},
		{name: "manifest level not a number", manifest: `{"compress":"zstd","level":"best","contents":[]}`, code: 2,
			want: []string{"manifest", `"best"`}},
		{name: "bad epoch", manifest: `{"contents":[]}`, args: []string{"--source-date-epoch", "yesterday"}, code: 2,
			want: []string{"--source-date-epoch", "yesterday"}},
		{name: "unknown flag", manifest: `{"contents":[]}`, args: []string{"--compresss", "xz"}, code: 2,
			want: []string{"unknown flag: --compresss"}},
		{name: "manifest missing", manifest: `{}`, args: []string{"-m", "/no/manifest.json"}, code: 1,
			want: []string{"/no/manifest.json", "no such file or directory"}},
	}
}

func filesystemCases() []badInput {
	return []badInput{
		{name: "missing source", manifest: `{"contents":[{"source":"/no/such/file"}]}`, code: 1,
			want: []string{"/no/such/file", "no such file or directory"}},
		{name: "source is a FIFO", manifest: `{"contents":[{"source":"/fifo"}]}`, code: 1,
			want: []string{"/fifo", "FIFO"}},
		{name: "FIFO inside a source directory", manifest: `{"contents":[{"source":"/"}]}`, code: 1,
			want: []string{"/fifo (in directory /)", "FIFO"}},
		{name: "symlink loop", manifest: `{"contents":[{"source":"/loop1"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				must(t, os.Symlink("loop2", filepath.Join(root, "loop1")))
				must(t, os.Symlink("loop1", filepath.Join(root, "loop2")))
			},
			want: []string{"/loop1", "more than 40 symlinks", "/loop1 -> loop2, /loop2 -> loop1"}},
		{name: "41 hops", manifest: `{"contents":[{"source":"/l0"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				for i := 0; i < 41; i++ {
					must(t, os.Symlink(fmt.Sprintf("l%d", i+1), filepath.Join(root, fmt.Sprintf("l%d", i))))
				}
				must(t, os.WriteFile(filepath.Join(root, "l41"), nil, 0o644))
			},
			want: []string{"/l0", "more than 40 symlinks"}},
		{name: "dangling link under --strict", manifest: `{"contents":[{"source":"/dangling"}]}`, args: []string{"--strict"}, code: 1,
			setup: func(t *testing.T, root string) { must(t, os.Symlink("/nowhere", filepath.Join(root, "dangling"))) },
			want:  []string{"--strict: 1 warnings are errors"}},
		{name: "file of 4 GiB", manifest: `{"contents":[{"source":"/huge"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				f, err := os.Create(filepath.Join(root, "huge"))
				must(t, err)
				must(t, f.Truncate(1<<32))
				f.Close()
			},
			want: []string{"/huge", "4294967296 bytes is too large for a newc archive"}},
		{name: "output directory missing", manifest: `{"contents":[]}`, args: []string{"-o", "/no/such/dir/initrd.img"}, code: 1,
			want: []string{"/no/such/dir/initrd.img", "no such file or directory"}},
	}
}

func elfCases() []badInput {
	return []badInput{
		{name: "truncated ELF", manifest: `{"contents":[{"source":"/bin/prog"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				data := compileProgram(t)
				must(t, os.WriteFile(filepath.Join(root, "bin/prog"), data[:100], 0o755))
			},
			want: []string{"/bin/prog"}},
		{name: "ELF magic then garbage", manifest: `{"contents":[{"source":"/bin/prog"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				must(t, os.WriteFile(filepath.Join(root, "bin/prog"), append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0xff}, 200)...), 0o755))
			},
			want: []string{"/bin/prog"}},
		{name: "missing library", manifest: `{"contents":[{"source":"/bin/prog"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				must(t, os.WriteFile(filepath.Join(root, "bin/prog"), compileProgram(t), 0o755))
			},
			want: []string{"not found", "/bin/prog", "searched"}},
		{name: "library of another class", manifest: `{"contents":[{"source":"/bin/prog"}]}`, code: 1,
			setup: func(t *testing.T, root string) {
				must(t, os.WriteFile(filepath.Join(root, "bin/prog"), compileProgram(t), 0o755))
				lib := filepath.Join(root, "lib/x86_64-linux-gnu/libc.so.6")
				must(t, os.MkdirAll(filepath.Dir(lib), 0o755))
				compile32(t, lib, "libc.so.6")
			},
			want: []string{"libc.so.6", "not found", "skipped /lib/x86_64-linux-gnu/libc.so.6"}},
	}
}

func unitCases() []badInput {
	unit := func(name, text string) func(*testing.T, string) {
		return func(t *testing.T, root string) {
			writeFiles(t, root, map[string]string{"usr/lib/systemd/system/" + name: text})
		}
	}
	return []badInput{
		{name: "unknown kernel module", manifest: `{"modules":{"load":["ext5"]}}`, code: 1,
			setup: func(t *testing.T, root string) {
				writeFiles(t, root, map[string]string{
					"lib/modules/6.1.0-1-amd64/modules.dep":            "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\nkernel/fs/jbd2/jbd2.ko:\n",
					"lib/modules/6.1.0-1-amd64/kernel/fs/ext4/ext4.ko": "not really a module",
					"lib/modules/6.1.0-1-amd64/kernel/fs/jbd2/jbd2.ko": "not really a module",
				})
			},
			want: []string{"ext5", "close matches: ext4"}},
		{name: "no kernel modules at all", manifest: `{"modules":{"load":["ext4"]}}`, code: 1,
			want: []string{"/lib/modules"}},
		{name: "unknown unit", manifest: `{"units":["nosuch.service"]}`, code: 1,
			want: []string{"nosuch.service", "/usr/lib/systemd/system"}},
		{name: "unit runs a missing program", manifest: `{"units":["a.service"]}`, code: 1,
			setup: unit("a.service", "[Service]\nExecStart=/usr/bin/nosuch --flag\n"),
			want:  []string{"/usr/lib/systemd/system/a.service:2", "/usr/bin/nosuch"}},
		{name: "unit with a broken section header", manifest: `{"units":["b.service"]}`, code: 1,
			setup: unit("b.service", "[Unit\nDescription=x\n"),
			want:  []string{"b.service:1"}},
	}
}

// externalCases are what external programs and files give back: a
// compressor's output, a prepend archive.
func externalCases() []badInput {
	text := `{"contents":[{"target":"/a","text":"x"}]}`
	big := func(t *testing.T, root string) {
		must(t, os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte("0123456789abcdef"), 1<<16), 0o644))
	}
	early := func(data string) func(*testing.T, string) {
		return func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "early.cpio"), []byte(data), 0o644))
		}
	}
	// A newc header of a 5-byte file "a", without the trailer after it.
	header := "070701" + strings.Repeat("0", 8) + "000081a4" + strings.Repeat("0", 8*4) + "00000005" + strings.Repeat("0", 8*4) +
		"00000002" + strings.Repeat("0", 8) + "a\x00" + "hello"
	return []badInput{
		{name: "compressor writes nothing", manifest: text, code: 1,
			args: []string{"-c", "cmd:sh -c 'cat >/dev/null'"},
			want: []string{`compressor "sh -c 'cat >/dev/null'"`, "wrote nothing"}},
		{name: "compressor reads nothing, writes nothing", manifest: text, code: 1,
			args: []string{"-c", "cmd:true"},
			want: []string{`compressor "true"`, "wrote nothing"}},
		{name: "compressor writes garbage", manifest: text, code: 1,
			args: []string{"-c", "cmd:sh -c 'cat >/dev/null; printf garbage!'"},
			want: []string{`compressor "sh -c`, `"garbag"`, "not a compressed format"}},
		{name: "compressor writes the lz4 frame format", manifest: text, code: 1,
			args: []string{"-c", "cmd:lz4 -c"},
			want: []string{`compressor "lz4 -c"`, "not a compressed format"}},
		{name: "compressor error names no source", manifest: `{"contents":[{"source":"/big"}]}`, code: 1, setup: big,
			args:   []string{"-c", "cmd:sh -c 'head -c 10 >/dev/null; exit 3'"},
			want:   []string{`compressor "sh -c 'head -c 10 >/dev/null; exit 3'": exit status 3`},
			reject: []string{"/big", "big:"}},
		{name: "compressor stops reading", manifest: `{"contents":[{"source":"/big"}]}`, code: 1, setup: big,
			args:   []string{"-c", "cmd:sh -c 'head -c 10 >/dev/null; printf \"\\037\\213\"'"},
			want:   []string{"exited before reading all its input"},
			reject: []string{"/big", "big:"}},
		{name: "prepend of text", manifest: `{"prepend":["/early.cpio"]}`, code: 1, setup: early("hello, world\n"),
			want: []string{"prepend /early.cpio", "not a newc archive"}},
		{name: "prepend without a trailer", manifest: `{"prepend":["/early.cpio"]}`, code: 1, setup: early(header),
			want: []string{"prepend /early.cpio", "TRAILER!!!"}},
		{name: "prepend empty", manifest: `{"prepend":["/early.cpio"]}`, code: 1, setup: early(""),
			want: []string{"prepend /early.cpio", "empty"}},
		{name: "prepend FIFO", manifest: `{"prepend":["/fifo"]}`, code: 1,
			want: []string{"prepend /fifo", "not a regular file"}},
		{name: "empty manifest", manifest: "", code: 1,
			want: []string{"m.json: empty manifest"}},
	}
}

// compileProgram returns a small dynamically linked program built now.
func compileProgram(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	must(t, os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644))
	out := filepath.Join(dir, "p")
	if b, err := exec.Command("gcc", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	must(t, err)
	return data
}

// compile32 builds a 32-bit shared library (gcc -m32 -c, ld -m elf_i386:
// no multilib headers needed).
func compile32(t *testing.T, out, soname string) {
	t.Helper()
	dir := t.TempDir()
	src, obj := filepath.Join(dir, "l.c"), filepath.Join(dir, "l.o")
	must(t, os.WriteFile(src, []byte("int f(void) { return 1; }\n"), 0o644))
	for _, cmd := range [][]string{
		{"gcc", "-m32", "-fPIC", "-c", "-o", obj, src},
		{"ld", "-m", "elf_i386", "-shared", "-soname", soname, "-o", out, obj},
	} {
		if b, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, b)
		}
	}
}

func checkFailure(t *testing.T, r result, code int, want []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "mkinitrd-ng: ") {
		t.Errorf("stderr does not start with an error line: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("error %q lacks %q", r.stderr, w)
		}
	}
	if testing.Verbose() {
		t.Logf("stderr: %s", r.stderr)
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
