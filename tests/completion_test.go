package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// completionScript writes the script mkinitrd-ng completion prints for
// shell into a temporary directory, as name.
func completionScript(t *testing.T, shell, name string) string {
	t.Helper()
	r := run(t, nil, "completion", shell)
	if r.code != 0 {
		t.Fatalf("completion %s: exit %d\n%s", shell, r.code, r.stderr)
	}
	path := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(path, []byte(r.stdout), 0o644))
	return path
}

// completionDir is a directory for the completion of file names: two
// files and a directory.
func completionDir(t *testing.T) string {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"old.img": "", "new.img": ""})
	must(t, os.Mkdir(filepath.Join(dir, "rootfs"), 0o755))
	return dir
}

// TestBashCompletion runs the bash completion function on partial
// command lines, as bash calls it on Tab: COMP_WORDS split at the
// characters of COMP_WORDBREAKS (so --flag=value is three words),
// COMP_CWORD the word being completed; COMPREPLY is what is offered.
func TestBashCompletion(t *testing.T) {
	script := completionScript(t, "bash", "mkinitrd-ng.bash")
	dir := completionDir(t)
	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{"d"}, []string{"diff"}},
		{[]string{""}, []string{"ls", "diff", "why", "spec", "host", "uki", "report", "completion"}},
		{[]string{"report", "x", "--by", "m"}, []string{"manifest-item"}},
		{[]string{"report", "x", "--format", "s"}, []string{"svg"}},
		{[]string{"--comp"}, []string{"--compress"}},
		{[]string{"-c", "z"}, []string{"zstd", "zstd-cli"}},
		{[]string{"--compress", "=", "x"}, []string{"xz", "xz-cli"}},
		{[]string{"--level", ""}, []string{"default", "max"}},
		{[]string{"spec", "x", "-c", ""}, []string{"none", "gzip", "zstd", "xz", "lz4"}},
		{[]string{"diff", "--format", "m"}, []string{"markdown"}},
		{[]string{"diff", "--by", "s"}, []string{"store-path"}},
		{[]string{"diff", "--f"}, []string{"--format", "--fail-over"}},
		{[]string{"ls", "-"}, []string{"--json", "--long", "-l", "--quiet", "-q", "--help", "-h"}},
		{[]string{"ls", "o"}, []string{"old.img"}},
		{[]string{"diff", "old.img", ""}, []string{"new.img", "old.img", "rootfs"}},
		{[]string{"--root", ""}, []string{"rootfs"}},
		{[]string{"host", "--sysroot", "r"}, []string{"rootfs"}},
		{[]string{"--manifest", "n"}, []string{"new.img"}},
		{[]string{"--jobs", ""}, nil},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{[]string{"host", "--gen"}, []string{"--generic"}},
		{[]string{"-m", "x", "--dry"}, []string{"--dry-run"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.words, " "), func(t *testing.T) {
			words := append([]string{"mkinitrd-ng"}, tt.words...)
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = "'" + w + "'"
			}
			prog := `source "$1" && COMP_WORDS=(` + strings.Join(quoted, " ") + `) && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && ` +
				`_mkinitrd_ng && printf '%s\n' "${COMPREPLY[@]}"`
			r := runCmdIn(t, dir, nil, nil, "bash", "-c", prog, "bash", script)
			if r.code != 0 {
				t.Fatalf("bash: exit %d\n%s", r.code, r.stderr)
			}
			got := strings.Fields(r.stdout)
			want := slices.Clone(tt.want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("COMPREPLY = %q, want %q", got, want)
			}
		})
	}
}

// TestFishCompletion asks fish what it offers for partial command lines
// (complete -C), with the generated completions loaded.
func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish is not installed (apt-get install fish)")
	}
	script := completionScript(t, "fish", "mkinitrd-ng.fish")
	dir := completionDir(t)
	tests := []struct {
		line string
		want []string
	}{
		{"mkinitrd-ng di", []string{"diff"}},
		{"mkinitrd-ng -c z", []string{"zstd", "zstd-cli"}},
		{"mkinitrd-ng --compress=l", []string{"--compress=lz4"}},
		{"mkinitrd-ng diff --format ", []string{"json", "markdown", "text"}},
		{"mkinitrd-ng ls o", []string{"old.img"}},
		{"mkinitrd-ng --root r", []string{"rootfs/"}},
		{"mkinitrd-ng completion ", []string{"bash", "fish", "zsh"}},
		{"mkinitrd-ng ls --j", []string{"--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			r := runCmdIn(t, dir, nil, nil, "fish", "--no-config", "-c", `source $argv[1]; complete -C"$argv[2]"`, script, tt.line)
			if r.code != 0 {
				t.Fatalf("fish: exit %d\n%s", r.code, r.stderr)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				if word, _, _ := strings.Cut(line, "\t"); word != "" {
					got = append(got, word)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("completions %q, want %q", got, tt.want)
			}
		})
	}
}

// TestZshCompletion checks the zsh function's syntax, and that it hands
// _arguments the specification of the command on the line: with the
// completion system's functions replaced by ones that print their
// arguments, words and CURRENT are what a Tab would set.
func TestZshCompletion(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (apt-get install zsh)")
	}
	script := completionScript(t, "zsh", "_mkinitrd-ng")
	if r := runCmd(t, nil, nil, "zsh", "-n", script); r.code != 0 {
		t.Fatalf("zsh -n: exit %d\n%s", r.code, r.stderr)
	}
	tests := []struct {
		words         string
		has, lacks    []string
		describesCmds bool
	}{
		{"mkinitrd-ng ''", nil, nil, true},
		{"mkinitrd-ng diff --format ''", []string{"--format=[output FORMAT]:format:(text json markdown)", "*:file:_files"}, []string{"--manifest"}, false},
		{"mkinitrd-ng --level ''", []string{"--level=[compression LEVEL]:level:(default max)", "-c+", "--compress="}, []string{"*:file:_files"}, false},
		{"mkinitrd-ng completion ''", []string{"1:argument:(bash zsh fish)"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.words, func(t *testing.T) {
			prog := `_arguments() { print -rl -- "$@" }; _describe() { print -r -- "describe $2"; }
source "$1" # which also calls the function, as autoloading does
print -r -- '@@@'
words=(` + tt.words + `); CURRENT=${#words}
_mkinitrd-ng`
			r := runCmd(t, nil, nil, "zsh", "-f", "-c", prog, "zsh", script)
			if r.code != 0 {
				t.Fatalf("zsh: exit %d\n%s", r.code, r.stderr)
			}
			_, out, _ := strings.Cut(r.stdout, "@@@\n")
			if got := strings.Contains(out, "describe commands"); got != tt.describesCmds {
				t.Errorf("describes the commands: %v, want %v\n%s", got, tt.describesCmds, out)
			}
			for _, s := range tt.has {
				if !strings.Contains(out, s) {
					t.Errorf("_arguments lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(out, s) {
					t.Errorf("_arguments has %q:\n%s", s, out)
				}
			}
		})
	}
}
