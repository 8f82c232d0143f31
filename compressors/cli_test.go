package compressors

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIEngines: each CLI engine runs its tool with the documented
// arguments, whatever the tools' option variables say, and writes what
// the kernel reads (zstd window <= 8 MiB, xz CRC32 and a capped dictionary).
func TestCLIEngines(t *testing.T) {
	// Options through the environment must not change the output.
	t.Setenv("GZIP", "-1")
	t.Setenv("ZSTD_CLEVEL", "1")
	t.Setenv("ZSTD_NBTHREADS", "2")
	t.Setenv("XZ_DEFAULTS", "--check=crc64")
	t.Setenv("XZ_OPT", "-0")
	data := mixedData(1<<20, 12)
	tests := []struct {
		name  string
		level int
		argv  []string // the command it must equal
		check func(t *testing.T, file string)
	}{
		{"gzip-cli", 0, []string{"gzip", "-n", "-c", "-6"}, nil},
		{"gzip-cli", 1, []string{"gzip", "-n", "-c", "-1"}, nil},
		{"zstd-cli", 0, []string{"zstd", "-q", "-c", "--single-thread", "-8", "--zstd=wlog=23,mml=4,slog=3"}, func(t *testing.T, file string) {
			checkZstdWindow(t, file)
		}},
		{"zstd-cli", 3, []string{"zstd", "-q", "-c", "--single-thread", "-3"}, nil},
		{"zstd-cli", 19, []string{"zstd", "-q", "-c", "--single-thread", "-19"}, func(t *testing.T, file string) {
			checkZstdWindow(t, file)
		}},
		{"gzip-cli", LevelMax, []string{"gzip", "-n", "-c", "-9"}, nil},
		{"zstd-cli", LevelMax, []string{"zstd", "-q", "-c", "--single-thread", "-19"}, nil},
		{"xz-cli", 0, []string{"xz", "-q", "-c", "-T1", "--check=crc32", "--lzma2=preset=5,mf=hc4,depth=4,dict=2MiB"}, nil},
		{"xz-cli", LevelMax, []string{"xz", "-q", "-c", "-T1", "--check=crc32", "--lzma2=preset=9,dict=8MiB"}, func(t *testing.T, file string) {
			list := string(mustTool(t, nil, "xz", "-lvv", file))
			if !strings.Contains(list, "Check:             CRC32") {
				t.Errorf("xz -lvv output lacks the CRC32 check:\n%s", list)
			}
		}},
		{"xz-cli", 9, []string{"xz", "-q", "-c", "-T1", "--check=crc32", "--lzma2=preset=9,dict=8MiB"}, func(t *testing.T, file string) {
			list := string(mustTool(t, nil, "xz", "-lvv", file))
			for _, s := range []string{"Check:             CRC32", "--lzma2=dict=8MiB"} {
				if !strings.Contains(list, s) {
					t.Errorf("xz -lvv output lacks %q:\n%s", s, list)
				}
			}
		}},
		{"xz-cli", 3, []string{"xz", "-q", "-c", "-T1", "--check=crc32", "--lzma2=preset=3,dict=4MiB"}, nil},
	}
	clean := cleanEnv()
	for _, tt := range tests {
		c := lookup(t, tt.name, tt.level)
		format := strings.TrimSuffix(tt.name, CLISuffix)
		f, _ := writtenFormat(format)
		if c.Name() != tt.name || c.Ext() != f.ext || !bytes.Equal(c.Magic(), []byte(f.magic)) {
			t.Errorf("%s: Name, Ext, Magic = %q, %q, % x", tt.name, c.Name(), c.Ext(), c.Magic())
		}
		if got, want := c.(*cliEngine).String(), strings.Join(tt.argv, " "); got != want {
			t.Errorf("%s level %d runs %q, want %q", tt.name, tt.level, got, want)
		}
		out := compress(t, c, data)
		cmd := exec.Command(tt.argv[0], tt.argv[1:]...)
		cmd.Env = clean
		cmd.Stdin = bytes.NewReader(data)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", tt.argv, err)
		}
		if !bytes.Equal(out, want) {
			t.Errorf("%s level %d: %d bytes, differ from %v without option variables (%d bytes)",
				tt.name, tt.level, len(out), tt.argv, len(want))
		}
		got, err := decode(format, out)
		if err != nil {
			t.Fatalf("%s: NewReader: %v", tt.name, err)
		}
		checkEqual(t, tt.name+" NewReader", got, data)
		if tt.check != nil {
			tt.check(t, writeTemp(t, "out"+c.Ext(), out))
		}
	}
}

func TestCLILookupErrors(t *testing.T) {
	tests := []struct {
		name    string
		level   int
		wantErr string
	}{
		{"zstd-cli", 20, "compressor zstd-cli: level 20 out of range 1-19 (0 selects the default; max the smallest output)"},
		{"xz-cli", -3, "out of range 1-9"},
		{"gzip-cli", 10, "out of range 1-9"},
		{"lz4-cli", 0, `unknown compressor "lz4-cli"`},
		{"none-cli", 0, `unknown compressor "none-cli"`},
	}
	for _, tt := range tests {
		_, err := Lookup(tt.name, tt.level)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Lookup(%q, %d) = %v, want error containing %q", tt.name, tt.level, err, tt.wantErr)
		}
	}
	t.Setenv("PATH", t.TempDir())
	_, err := Lookup("xz-cli", 0)
	if err == nil || !strings.Contains(err.Error(), "install xz, or use the built-in encoder, xz") {
		t.Errorf("Lookup without xz in PATH: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"65536", 65536}, {"1", 1}, {"512K", 512 << 10}, {"8M", 8 << 20}, {"8MiB", 8 << 20},
		{"1G", 1 << 30}, {"2G", -1}, {"0", -1}, {"-1M", -1}, {"8X", -1}, {"8iB", -1},
		{"M", -1}, {"", -1}, {"1.5M", -1}, {"8m", -1},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// TestCleanEnv: only the tools' option variables are dropped.
func TestCleanEnv(t *testing.T) {
	t.Setenv("XZ_OPT", "-9")
	t.Setenv("MKINITRD_TEST_KEEP", "1")
	env := strings.Join(cleanEnv(), "\n")
	if strings.Contains(env, "XZ_OPT=") || !strings.Contains(env, "MKINITRD_TEST_KEEP=1") {
		t.Errorf("cleanEnv kept XZ_OPT or dropped another variable")
	}
	if len(cleanEnv()) != len(os.Environ())-1 {
		t.Errorf("cleanEnv dropped %d variables, want 1", len(os.Environ())-len(cleanEnv()))
	}
}
