package main

import (
	"runtime/debug"
	"testing"
)

// TestVersionString: the version, the commit (marked when the tree was
// modified) and the Go version, from the build information.
func TestVersionString(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0fb8255f6fd5d22d263e30ebae589b1f5a3f8a5c"},
		{Key: "vcs.time", Value: "2026-12-04T17:28:37Z"}, {Key: "vcs.modified", Value: "false"}}
	dirty := append(vcs[:2:2], debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	tests := []struct {
		name    string
		info    *debug.BuildInfo
		ok      bool
		release string
		want    string
	}{
		{"release build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, true, "0.1.0",
			"0.1.0 (commit 0fb8255f6fd5 2026-12-04, go1.26.8)"},
		{"dirty tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: dirty}, true, "",
			"dev (commit 0fb8255f6fd5+dirty 2026-12-04, go1.26.8)"},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}}, true, "",
			"v0.2.0 (go1.26.8)"},
		{"no build information", nil, false, "", "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionString(tt.info, tt.ok, tt.release); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
