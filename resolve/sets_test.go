package resolve

import (
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"
)

// TestSortedRuns: entries added in any order come back once each, in path
// order, across several runs and runs added already packed.
func TestSortedRuns(t *testing.T) {
	tests := []struct {
		name     string
		added    int // entries added one at a time
		prepared int // entries added as one packed run
	}{
		{"empty", 0, 0},
		{"one pending", 1, 0},
		{"one run exactly", runSize, 0},
		{"several runs", 3*runSize + 17, 0},
		{"with a packed run", runSize + 1, 100},
		{"packed only", 0, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var want []string
			var s sortedRuns
			for _, i := range rng.Perm(tt.added) {
				e := Entry{Path: fmt.Sprintf("/d%03d/f%05d", i%300, i), Why: fmt.Sprint(i)}
				s.add(&e)
				want = append(want, e.Path)
			}
			var prepared []Entry
			for i := range tt.prepared {
				prepared = append(prepared, Entry{Path: fmt.Sprintf("/p/%05d", i)})
				want = append(want, prepared[i].Path)
			}
			s.addRun(Pack(prepared))
			slices.Sort(want)
			var got []string
			s.merged(func(e *Entry) {
				if e.Why != "" && !strings.HasSuffix(e.Path, fmt.Sprintf("f%05s", e.Why)) {
					t.Fatalf("%s came back with the reason %q of another entry", e.Path, e.Why)
				}
				got = append(got, e.Path)
			})
			if !slices.Equal(got, want) {
				t.Fatalf("merged %d entries, want %d in path order", len(got), len(want))
			}
		})
	}
}

func TestHashSet(t *testing.T) {
	s := newHashSet()
	keys := [][2]uint64{s.key("/a", "", 0), s.key("/a", "", 1), s.key("/a", "x", 0), s.key("/a\x00", "", 0), s.key("/b", "", 0)}
	for i, k := range keys {
		for j := range i {
			if k == keys[j] {
				t.Errorf("keys %d and %d are equal", i, j)
			}
		}
		if !s.add(k) || s.add(k) {
			t.Errorf("key %d: add does not report new keys once", i)
		}
	}
	if s.key("/a", "", 0) != keys[0] {
		t.Error("the same key hashed twice differs")
	}
}

// TestLargeTree resolves a tree of more files than one sorted run holds,
// in several directories: every file once, in path order, each with its
// directory's reason.
func TestLargeTree(t *testing.T) {
	tr := newTree(t)
	const dirs, files = 7, 1500
	for d := range dirs {
		for f := range files {
			tr.write(fmt.Sprintf("/srv/d%d/f%04d", d, f), fmt.Sprint(d, f), 0o644)
		}
	}
	tr.write("/srv/d3/sub/x", "x", 0o644)
	c := tr.mustResolve(`{"contents": [{"source": "/srv"}, {"target": "/srv/d3/f0007", "text": "from the manifest"}]}`)
	if n := len(c.Entries); n != 1+dirs*files+1+dirs+1 {
		t.Errorf("%d entries, want %d", n, 1+dirs*files+1+dirs+1)
	}
	if !slices.IsSortedFunc(c.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) }) {
		t.Error("entries are not in path order")
	}
	for i := 1; i < len(c.Entries); i++ {
		if c.Entries[i].Path == c.Entries[i-1].Path {
			t.Errorf("%s twice", c.Entries[i].Path)
		}
	}
	for _, e := range c.Entries {
		if e.Kind == File && strings.HasPrefix(e.Path, "/srv/d") && e.Path != "/srv/d3/f0007" {
			if want := "in directory " + path.Dir(e.Path); e.Why != want || e.Source != e.Path {
				t.Fatalf("%s: why %q, source %q; want %q and its own path", e.Path, e.Why, e.Source, want)
			}
		}
	}
	if e, ok := c.Lookup("/srv/d3/f0007"); !ok || string(e.Data) != "from the manifest" {
		t.Errorf("the manifest's /srv/d3/f0007 = %+v, want its text", e)
	}
	if e, ok := c.Lookup("/srv"); !ok || e.Kind != Dir || !strings.HasPrefix(e.Why, "manifest") {
		t.Errorf("/srv = %+v, want the manifest's directory", e)
	}
}
