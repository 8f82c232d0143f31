package resolve

import (
	"bytes"
	"path"
	"strings"
	"testing"
)

// FuzzParseManifest: no input panics the parser, and whatever it accepts
// is valid: absolute targets without "..", one kind per entry.
func FuzzParseManifest(f *testing.F) {
	for _, seed := range []string{
		`{"contents": [{"source": "/bin/sh"}, {"target": "/a", "text": "x", "mode": "0755"}]}`,
		`{"compress": ["zstd", "-19"], "dlopen": {"priority": "suggested", "features": ["tpm"]}}`,
		`[{"source": "/nix/store/x/bin/init", "target": "/init"}]`,
		`{"contents": [{"target": "/dev/console", "type": "char", "major": 5, "minor": 1}]}`,
		`{"units": ["initrd.target"], "wants": {"sysinit.target": ["x.service"]}, "followWants": false}`,
		`{"contents": [{"target": "/a", "symlink": "b", "uid": 1, "gid": 2}]} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for i := range m.Contents {
			c := &m.Contents[i]
			if len(c.kinds()) != 1 {
				t.Fatalf("accepted entry %d with kinds %v", i, c.kinds())
			}
			for _, p := range []string{c.Source, c.Target} {
				if p != "" && (!path.IsAbs(p) || strings.Contains(p, "\x00") || strings.Contains("/"+p+"/", "/../")) {
					t.Fatalf("accepted path %q", p)
				}
			}
		}
	})
}
