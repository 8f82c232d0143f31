package compressors

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestFingerprint: a fingerprint is the same for the same compressor and
// level, differs with either, names a tool's version, and is refused to
// an external command.
func TestFingerprint(t *testing.T) {
	seen := map[string]string{}
	for _, tt := range []struct {
		name  string
		level int
		want  string
	}{
		{"gzip", 0, "gzip -6"}, {"gzip", 9, "gzip -9"}, {"zstd", 0, "window 8 MiB"}, {"xz", 0, "CRC32"},
		{"lz4", 0, "legacy frame"}, {"zstd-cli", 0, "Zstandard"}, {"xz-cli", 0, "liblzma"}, {"gzip-cli", 0, "gzip"},
	} {
		if tool, ok := strings.CutSuffix(tt.name, CLISuffix); ok {
			if _, err := exec.LookPath(tool); err != nil {
				continue
			}
		}
		c := lookup(t, tt.name, tt.level)
		fp, err := Fingerprint(c)
		if err != nil || !strings.Contains(fp, tt.want) {
			t.Errorf("Fingerprint(%s %d) = %q, %v; want it to say %q", tt.name, tt.level, fp, err, tt.want)
		}
		if again, _ := Fingerprint(lookup(t, tt.name, tt.level)); again != fp {
			t.Errorf("%s %d: fingerprints %q and %q", tt.name, tt.level, fp, again)
		}
		if other, ok := seen[fp]; ok {
			t.Errorf("%s %d has the fingerprint of %s", tt.name, tt.level, other)
		}
		seen[fp] = tt.name
	}
	c, err := Lookup("cmd:gzip -9", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Fingerprint(c); !errors.Is(err, ErrNoFingerprint) {
		t.Errorf("Fingerprint(cmd:) = %v, want ErrNoFingerprint", err)
	}
}
