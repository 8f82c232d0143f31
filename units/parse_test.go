package units

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	type E = Entry
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{"sections and keys", "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n",
			[]E{{"Unit", "Description", "x", 2}, {"Service", "ExecStart", "/bin/true", 4}}},
		{"whitespace around key and value", "[Unit]\n  Wants =  a.service  \t\n",
			[]E{{"Unit", "Wants", "a.service", 2}}},
		{"comments only at line start", "[Unit]\n# Wants=a.service\n  ; Wants=b.service\nWants=c.service # not a comment\n",
			[]E{{"Unit", "Wants", "c.service # not a comment", 4}}},
		{"continuation joins with a space", "[Service]\nExecStart=/bin/foo \\\n  --bar\n",
			[]E{{"Service", "ExecStart", "/bin/foo    --bar", 2}}},
		{"comment lines inside a continuation are skipped", "[Service]\nExecStart=/bin/foo \\\n# --no\n; --no\n  --yes\nX=y\n",
			[]E{{"Service", "ExecStart", "/bin/foo    --yes", 2}, {"Service", "X", "y", 6}}},
		{"an empty line ends a continuation", "[Unit]\nA=b\\\n\nC=d\n",
			[]E{{"Unit", "A", "b", 2}, {"Unit", "C", "d", 4}}},
		{"escaped backslash does not continue", "[Unit]\nA=b\\\\\nC=d\n",
			[]E{{"Unit", "A", `b\\`, 2}, {"Unit", "C", "d", 3}}},
		{"three-line continuation", "[Unit]\nWants=a.service \\\n b.service \\\n c.service\n",
			[]E{{"Unit", "Wants", "a.service   b.service   c.service", 2}}},
		{"continuation at end of file", "[Unit]\nA=b \\",
			[]E{{"Unit", "A", "b", 2}}},
		{"CRLF and BOM", "\xef\xbb\xbf[Unit]\r\nA=b\r\n",
			[]E{{"Unit", "A", "b", 2}}},
		{"lines without '=' and without key are ignored", "[Unit]\njunk\n=value\nA=b\n",
			[]E{{"Unit", "A", "b", 4}}},
		{"assignment before any section", "A=b\n[Unit]\n",
			[]E{{"", "A", "b", 1}}},
		{"empty value and '=' in value", "[Service]\nExecStart=\nEnvironment=A=B\n",
			[]E{{"Service", "ExecStart", "", 2}, {"Service", "Environment", "A=B", 3}}},
		{"repeated keys kept in order", "[Unit]\nWants=a.service\nAfter=x\nWants=b.service\n",
			[]E{{"Unit", "Wants", "a.service", 2}, {"Unit", "After", "x", 3}, {"Unit", "Wants", "b.service", 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(strings.NewReader(tt.in), "test.service")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Entries, tt.want) {
				t.Errorf("entries\n got %+v\nwant %+v", f.Entries, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[Unit]\nA=b\n[Service\n", "x.service:3: invalid section header"},
		{"[Un\"it]\n", "x.service:1: bad characters in section header"},
		{"[Unit]\nA=\xff\n", "x.service:2: invalid UTF-8"},
		{"[Unit]\nA=" + strings.Repeat("a", MaxLine+1) + "\n", "x.service:2: line too long"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in), "x.service")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%.30q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	_, err := Parse(strings.NewReader("[x\n"), "x.service")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 1 {
		t.Errorf("error %v is not a *SyntaxError for line 1", err)
	}
}

func TestValues(t *testing.T) {
	f, err := Parse(strings.NewReader(`[Service]
ExecStart=/bin/a
ExecStart=/bin/b
[Unit]
ExecStart=/bin/other-section
[Service]
ExecStart=
ExecStart=/bin/c
ExecStart=/bin/d
`), "x.service")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Values("Service", "ExecStart"), []string{"/bin/c", "/bin/d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values = %q, want %q", got, want)
	}
	if got := f.Values("Service", "Nope"); got != nil {
		t.Errorf("Values of a missing key = %q", got)
	}
}

func TestNextWord(t *testing.T) {
	tests := []struct {
		in      string
		words   []string
		wantErr string
	}{
		{`  a  b	c `, []string{"a", "b", "c"}, ""},
		{`"a b" 'c d'`, []string{"a b", "c d"}, ""},
		{`x"a b"y`, []string{"xa by"}, ""},
		{`a\ b`, nil, "invalid escape"}, // systemd has no "\ " escape
		{`a\sb "\x41\101\u00e9" '\t\''`, []string{"a b", "AAé", "\t'"}, ""},
		{`"" x`, []string{"", "x"}, ""},
		{`"unclosed`, nil, "unbalanced quotes"},
		{`trailing\`, nil, "trailing backslash"},
		{`\x00`, nil, "invalid escape"},
		{`\q`, nil, "invalid escape"},
		{`\477`, nil, "invalid escape"},
	}
	for _, tt := range tests {
		var got []string
		var err error
		rest := tt.in
		for {
			var w string
			var ok bool
			w, rest, ok, err = nextWord(rest)
			if err != nil || !ok {
				break
			}
			got = append(got, w)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.words) {
			t.Errorf("%q: words %q, err %v; want %q", tt.in, got, err, tt.words)
		}
	}
}

func TestSplitCommands(t *testing.T) {
	tests := []struct {
		in      string
		want    []command
		wantErr string
		ignored bool
	}{
		{"/bin/a -x", []command{{"/bin/a", false}}, "", false},
		{"-/bin/plymouth --wait quit", []command{{"/bin/plymouth", true}}, "", false},
		{"@/lib/gen argv0 arg", []command{{"/lib/gen", false}}, "", false},
		{"-@:+/bin/x name", []command{{"/bin/x", true}}, "", false},
		{"!!/bin/x", []command{{"/bin/x", false}}, "", false},
		{"!/bin/x", []command{{"/bin/x", false}}, "", false},
		{"systemctl --no-block switch-root /sysroot", []command{{"systemctl", false}}, "", false},
		{`"/bin/with space" a`, []command{{"/bin/with space", false}}, "", false},
		{"/bin/a x ; -/bin/b y ; /bin/c", []command{{"/bin/a", false}, {"/bin/b", true}, {"/bin/c", false}}, "", false},
		{`/bin/a \; /bin/not-a-command`, []command{{"/bin/a", false}}, "", false},
		{`/bin/a ";" /bin/not-a-command`, []command{{"/bin/a", false}}, "", false},
		{"/bin/a x;y", []command{{"/bin/a", false}}, "", false},
		{"@/bin/a", nil, "argv[0]", false},
		{"-", nil, "empty executable", true},
		{`/bin/a "unclosed`, nil, "unbalanced", false},
		{`-/bin/a "unclosed`, nil, "unbalanced", true},
		{`"/bin/unclosed`, nil, "unbalanced", true}, // first word: systemd drops the line
	}
	for _, tt := range tests {
		got, err := splitCommands(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			} else if errors.As(err, new(ignoredError)) != tt.ignored {
				t.Errorf("%q: ignored = %v, want %v", tt.in, !tt.ignored, tt.ignored)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	inst, _ := parseName(`foo-bar@dev-disk-by\x2dlabel-root.service`)
	pl, _ := parseName(`sys-kernel-config.mount`)
	tmpl, _ := parseName(`foo@.service`)
	tests := []struct {
		u       unitName
		in      string
		full    bool
		want    string
		wantErr string
	}{
		{inst, "%i", false, `dev-disk-by\x2dlabel-root`, ""},
		{inst, "%n|%N|%p|%j", false, `foo-bar@dev-disk-by\x2dlabel-root.service|foo-bar@dev-disk-by\x2dlabel-root|foo-bar|bar`, ""},
		{inst, "x@%i.service", false, `x@dev-disk-by\x2dlabel-root.service`, ""},
		{inst, "%I", true, "dev/disk/by-label/root", ""},
		{inst, "%f", true, "/dev/disk/by-label/root", ""},
		{inst, "%P|%J", true, "foo/bar|bar", ""},
		{inst, "%t/x %E %%i 100%", true, "/run/x /etc %i 100%", ""},
		{inst, "%y|%Y", true, "/lib/systemd/system/foo-bar@.service|/lib/systemd/system", ""},
		{pl, "%f|%i|%p", true, "/sys/kernel/config||sys-kernel-config", ""},
		{inst, "%I", false, "", "unknown specifier %I"}, // not valid in unit names
		{inst, "%H", true, "", "unknown specifier %H"},
		{tmpl, "%i", true, "", "needs an instance"},
	}
	for _, tt := range tests {
		got, err := tt.u.expand(tt.in, tt.full, "/lib/systemd/system/foo-bar@.service")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s %q: err = %v, want %q", tt.u.full, tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q = %q, %v; want %q", tt.u.full, tt.in, got, err, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, n := range []string{"a.service", "a@.service", "a@b@c.socket", `system-systemd\x2dcryptsetup.slice`, "-.slice", "dev-sda1.device"} {
		if _, ok := parseName(n); !ok {
			t.Errorf("parseName(%q) failed", n)
		}
	}
	for _, n := range []string{"", "a", ".service", "a.nope", "@a.service", "a b.service", "a/b.service", strings.Repeat("a", 250) + ".service"} {
		if _, ok := parseName(n); ok {
			t.Errorf("parseName(%q) accepted", n)
		}
	}
	if got := escapeName("systemd-cryptsetup"); got != `systemd\x2dcryptsetup` {
		t.Errorf("escapeName = %q", got)
	}
	if got := escapeName("/dev/a@b"); got != `-dev-a\x40b` {
		t.Errorf("escapeName = %q", got)
	}
	for in, want := range map[string]string{"a-b-c.slice": "a-b.slice", "a.slice": "-.slice", "-.slice": ""} {
		if got := parentSlice(in); got != want {
			t.Errorf("parentSlice(%q) = %q, want %q", in, got, want)
		}
	}
}
