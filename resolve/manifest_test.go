package resolve

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

func TestParseManifestErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"syntax", "{\n \"contents\": [,]\n}", "m.json: line 2, column 15: invalid character ','"},
		{"unknown field", `{"contents": [], "compres": "xz"}`, `unknown field "compres"`},
		{"unknown entry field", `{"contents": [{"source": "/a", "mod": "0644"}]}`, `unknown field "mod"`},
		{"trailing", `{} x`, "line 1, column 4: unexpected data after the JSON value"},
		{"wrong type", `{"contents": [{"source": 3}]}`, "line 1, column 26: contents.source: a JSON number cannot be a string"},
		{"no kind", `{"contents": [{"target": "/a"}]}`, `contents[0]: no "source", "program", "text", "symlink" or "type"`},
		{"mixed", `{"contents": [{"target": "/a", "text": "", "type": "dir"}]}`, "contents[0]: mixes text and type: give one"},
		{"relative source", `{"contents": [{"source": "bin/sh"}]}`, `source "bin/sh" is not an absolute path`},
		{"dotdot", `{"contents": [{"target": "/a/../b", "text": ""}]}`, `target "/a/../b" holds ".."`},
		{"nul", `{"contents": [{"target": "/a\u0000b", "text": ""}]}`, "holds a NUL byte"},
		{"link without target", `{"contents": [{"source": "/a", "link": true}]}`, `"link" needs both "source" and "target"`},
		{"bad type", `{"contents": [{"target": "/a", "type": "pipe"}]}`, `type "pipe" is not one of dir, char, block, fifo, socket`},
		{"device without minor", `{"contents": [{"target": "/a", "type": "block", "major": 8}]}`, `type "block" needs "major" and "minor"`},
		{"major on a dir", `{"contents": [{"target": "/a", "type": "dir", "major": 8}]}`, `"major" and "minor" are only for type char or block`},
		{"mode not octal", `{"contents": [{"target": "/a", "text": "", "mode": "rwx"}]}`, `mode "rwx" is not an octal permission`},
		{"mode too big", `{"contents": [{"target": "/a", "text": "", "mode": "17777"}]}`, `mode "17777"`},
		{"dlopen priority", `{"dlopen": {"priority": "optional"}}`, `dlopen: priority "optional" is not one of`},
		{"store dir", `{"storeDirs": ["nix/store"]}`, `storeDirs: "nix/store" is not an absolute path`},
		{"fractional level", `{"level": 1.5}`, `level: want an integer or a string such as "max", got 1.5`},
		{"empty compress list", `{"compress": []}`, "compress: empty command list"},
		{"duplicate key", "{\"contents\": [],\n \"contents\": [{\"source\": \"/a\"}]}", `line 2, column 2: key "contents" appears twice in one object`},
		{"duplicate nested key", `[{"source": "/a", "target": "/b", "source": "/c"}]`, `line 1, column 35: key "source" appears twice`},
		{"major too big", `{"contents": [{"target": "/a", "type": "char", "major": 4096, "minor": 0}]}`, "device 4096:0 is out of Linux's range (major at most 4095, minor at most 1048575)"},
		{"minor too big", `{"contents": [{"target": "/a", "type": "block", "major": 8, "minor": 1048576}]}`, "device 8:1048576 is out of Linux's range"},
		{"legacy list unknown field", `[{"source": "/a", "targt": "/b"}]`, `unknown field "targt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(strings.NewReader(tt.in), "m.json")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "m.json: ") {
				t.Errorf("error %q, want it to start with the file name and hold %q", err, tt.want)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest(strings.NewReader(`{
		"compress": ["zstd", "-19"], "level": 3,
		"contents": [{"source": "/bin/sh", "mode": "4755", "uid": 1, "gid": 2}],
		"dlopen": {"usePriority": "suggested", "features": ["tpm"]}
	}`), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Compress.Argv, " "); got != "zstd -19" {
		t.Errorf("compress argv = %q", got)
	}
	if m.Level != "3" {
		t.Errorf("level = %q, want 3", m.Level)
	}
	if m.Dlopen.Priority != "suggested" {
		t.Errorf("usePriority not mapped to priority: %+v", m.Dlopen)
	}
	c := m.Contents[0]
	mode, _ := c.mode()
	if *mode != 0o4755 || *c.UID != 1 || *c.GID != 2 {
		t.Errorf("mode/uid/gid = %o %d %d", *mode, *c.UID, *c.GID)
	}
}

// TestLevelJSON: a level is a number or a string, and is written back in
// the form it was given.
func TestLevelJSON(t *testing.T) {
	for _, in := range []string{`9`, `"max"`, `0`} {
		var l Level
		if err := json.Unmarshal([]byte(in), &l); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := json.Marshal(l)
		if err != nil || string(out) != in {
			t.Errorf("%s: marshalled back as %s, %v", in, out, err)
		}
	}
}

// TestMakeInitrdNGList: make-initrd-ng's input, a plain list, keeps its
// meaning: a target is a symlink to the source.
func TestMakeInitrdNGList(t *testing.T) {
	m, err := ParseManifest(strings.NewReader(`[
		{"source": "/nix/store/x-systemd/lib/systemd/systemd", "target": "/init"},
		{"source": "/nix/store/x-kmod/bin/kmod", "dlopen": {"usePriority": "required", "features": []}}
	]`), "list.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Contents) != 2 || !m.Contents[0].Link || m.Contents[1].Link {
		t.Fatalf("contents = %+v", m.Contents)
	}
	if m.Contents[1].Dlopen.Priority != "required" {
		t.Errorf("dlopen = %+v", m.Contents[1].Dlopen)
	}
}

func TestManifestTooLarge(t *testing.T) {
	big := strings.NewReader(`{"contents": [` + strings.Repeat(" ", MaxManifestSize) + `]}`)
	_, err := ParseManifest(big, "big.json")
	if err == nil || !strings.Contains(err.Error(), "big.json: manifest larger than 64 MiB") {
		t.Errorf("error = %v", err)
	}
}

// TestResolveValidates: a manifest built in Go is checked as a file is,
// so an entry of no kind cannot archive a whole tree.
func TestResolveValidates(t *testing.T) {
	tr := newTree(t)
	for _, m := range []*Manifest{
		{Contents: []Content{{Target: "/x"}}},
		{Contents: []Content{{Target: "/dev/x", Type: "char"}}},
	} {
		fsys, err := rootfs.New(tr.root)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Resolve(m, fsys, Options{})
		fsys.Close()
		if err == nil || !strings.HasPrefix(err.Error(), "manifest: contents[0]") {
			t.Errorf("Resolve(%+v) error = %v", m.Contents[0], err)
		}
	}
}
