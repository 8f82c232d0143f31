package inspect

import (
	"testing"
)

// TestNewReport: one file per record with data, sizes adding up to the
// content, grouped and sorted largest first, with the why chains.
func TestNewReport(t *testing.T) {
	old, _ := diffImages(t)
	why := func(p string) []string { return []string{p + ": because"} }
	r := NewReport(old, "old.img", "dir", ByDir, why)
	var sum int64
	for _, f := range r.Files {
		sum += f.Size
		if f.Size <= 0 || f.Group != TopDir(f.Path) || len(f.Why) != 1 || f.Compressed < 0 || f.Change != "" {
			t.Errorf("file %+v", f)
		}
	}
	if sum != r.Image.Content || r.Image.File != "old.img" || r.Old != nil {
		t.Errorf("files sum to %d, content %d; image %+v", sum, r.Image.Content, r.Image)
	}
	// usr/bin/same, grows, gone, chmod hold data; the symlink does not.
	if len(r.Files) != 6 {
		t.Errorf("%d files, want 6: %+v", len(r.Files), r.Files)
	}
	for i := 1; i < len(r.Groups); i++ {
		if r.Groups[i].Size > r.Groups[i-1].Size {
			t.Errorf("groups not largest first: %+v", r.Groups)
		}
	}
	if r.Groups[0].Name != "/nix/store" || r.Files[0].Group != "/nix/store" {
		t.Errorf("largest group %+v, first file %+v; want /nix/store", r.Groups[0], r.Files[0])
	}
}

// TestNewDiffReport marks each file with its change; a removed file keeps
// its old size, and groups sum the new sizes.
func TestNewDiffReport(t *testing.T) {
	old, new := diffImages(t)
	r := NewDiffReport(old, new, "old.img", "new.img", "dir", ByDir, nil)
	got := map[string]string{}
	for _, f := range r.Files {
		got[f.Path] = f.Change
	}
	want := map[string]string{
		"/usr/bin/same": ChangeSame, "/usr/bin/grows": ChangeGrown, "/usr/bin/new": ChangeAdded,
		"/usr/bin/gone": ChangeRemoved, "/usr/bin/chmod": ChangeSame, "/etc/edit": ChangeEdited,
		"/" + newStore + "/lib/libsystemd.so": ChangeAdded, "/" + oldStore + "/lib/libsystemd.so": ChangeRemoved,
	}
	for p, c := range want {
		if got[p] != c {
			t.Errorf("%s: %q, want %q", p, got[p], c)
		}
	}
	if r.Old == nil || r.Old.File != "old.img" || r.Image.File != "new.img" {
		t.Errorf("sides %+v %+v", r.Old, r.Image)
	}
	for _, g := range r.Groups {
		if g.Name == "/usr/bin" && (g.Size != 4+15+5+1 || g.OldSize != 4+5+7+1) {
			t.Errorf("/usr/bin: %+v", g)
		}
	}
}
