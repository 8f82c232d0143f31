package mkinitrd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildProgress: a build counts into Options.Progress its entries,
// the archive's size, what went into the compressors and what was
// written, which match its Result; a nil Progress counts nothing.
func TestBuildProgress(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("data "), 100_000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, compress := range []string{"none", "gzip", "zstd"} {
		t.Run(compress, func(t *testing.T) {
			var p Progress
			if s := p.Snapshot(); s.Resolved || s.Total != 0 {
				t.Errorf("before the build: %+v", s)
			}
			m := manifest(t, `{"compress": "`+compress+`", "contents": [{"source": "/big"}, {"target": "/a", "text": "x"}]}`)
			var out bytes.Buffer
			res, err := Build(context.Background(), &out, m, Options{Root: dir, Progress: &p})
			if err != nil {
				t.Fatal(err)
			}
			s := p.Snapshot()
			if !s.Resolved || s.Files != int64(len(res.Closure.Entries)) || s.Total != res.Uncompressed ||
				s.In < s.Total || s.Out != res.Written || s.Out != int64(out.Len()) {
				t.Errorf("progress %+v; result: %d entries, %d uncompressed, %d written", s, len(res.Closure.Entries), res.Uncompressed, res.Written)
			}
		})
	}
	var nilProgress *Progress
	if s := nilProgress.Snapshot(); s != (ProgressSnapshot{}) || nilProgress.writing(&strings.Builder{}) == nil {
		t.Errorf("a nil Progress: %+v", s)
	}
}
