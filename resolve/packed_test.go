package resolve

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"reflect"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"empty", nil},
		{"every field", []Entry{
			{Path: "/bin", Kind: Symlink, LinkTarget: "usr/bin", Mode: 0o777, Why: "symlink", From: "/usr/bin/sh"},
			{Path: "/dev/console", Kind: CharDev, Major: 5, Minor: 1, Mode: 0o600, Why: "manifest"},
			{Path: "/dev/sda", Kind: BlockDev, Major: 8, Minor: 1 << 20, Mode: 0o660, GID: 6, Why: "manifest"},
			{Path: "/etc/hostname", Kind: File, Data: []byte("initrd\n"), Size: 7, Mode: 0o644, Why: "manifest"},
			{Path: "/etc/empty", Kind: File, Data: []byte{}, Mode: 0o644, Why: "manifest"},
			{Path: "/init", Kind: File, Source: "/nix/store/abc-init/bin/init", Size: 1234, Mode: 0o755, Machine: elf.EM_X86_64, Why: "manifest"},
			{Path: "/lib/modules/x.ko", Kind: File, Source: "/lib/modules/x.ko.xz", Decompress: true, Size: 1 << 33, Mode: 0o644, Why: "module", From: "/lib/modules"},
			{Path: "/run", Kind: Dir, Mode: 0o755 | fs.ModeSticky | fs.ModeSetgid, UID: 1 << 31, GID: 12, Why: "manifest"},
			{Path: "/run/initctl", Kind: FIFO, Mode: 0o600},
			{Path: "/run/sock", Kind: Socket, Mode: 0o600},
			{Path: "/usr/bin/a", Kind: File, Source: "/usr/bin/a", HardLink: "1:2", Size: 3, Mode: 0o4755 | fs.ModeSetuid, Why: "manifest"},
			{Path: "/usr/bin/b", Kind: File, Source: "/usr/bin/b", HardLink: "1:2", Size: 3, Mode: 0o755, Why: "manifest"},
		}},
		// A path shorter than the one before it, one that is a prefix
		// of the next, and bytes beyond ASCII.
		{"prefixes", []Entry{
			{Path: "/a/b/c/d", Kind: Dir},
			{Path: "/a/b", Kind: Dir},
			{Path: "/a/b-x", Kind: Dir},
			{Path: "/a/b-x/\xff\u00e9", Kind: Dir},
			{Path: "/a/b-x/\xff\u00e9", Kind: Dir, Why: "a duplicate path packs as a whole prefix"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Pack(tt.entries)
			if p.Len() != len(tt.entries) {
				t.Errorf("Len = %d, want %d", p.Len(), len(tt.entries))
			}
			got := p.Unpack()
			if len(got) == 0 && len(tt.entries) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.entries) {
				for i := range got {
					if !reflect.DeepEqual(got[i], tt.entries[i]) {
						t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], tt.entries[i])
					}
				}
				t.Fatalf("Unpack(Pack(entries)) differs")
			}
		})
	}
}

// treeEntries is the closure of a tree like the benchmark's synthetic
// workload: 500 directories of 100 files.
func treeEntries() []Entry {
	var entries []Entry
	for d := range 500 {
		dir := fmt.Sprintf("/var/tmp/mkinitrd-ng-bench/synthetic/tree/d%03d", d)
		entries = append(entries, Entry{Path: dir, Kind: Dir, Mode: 0o755, Why: "in directory /var/tmp/mkinitrd-ng-bench/synthetic/tree", From: "/var/tmp/mkinitrd-ng-bench/synthetic/tree"})
		why := "in directory " + dir
		for f := range 100 {
			p := fmt.Sprintf("%s/f%05d", dir, d*100+f)
			entries = append(entries, Entry{Path: p, Kind: File, Source: p, Size: int64(40000 + f), Mode: 0o644, Why: why, From: dir})
		}
	}
	return entries
}

// A tree of 50,000 files packs to a few bytes an entry: that is the point
// of packing.
func TestPackSize(t *testing.T) {
	entries := treeEntries()
	p := Pack(entries)
	perEntry := float64(p.Size()) / float64(p.Len())
	t.Logf("%d entries: %d bytes packed, %.1f an entry", p.Len(), p.Size(), perEntry)
	if perEntry > 20 {
		t.Errorf("%.1f bytes an entry packed, want at most 20", perEntry)
	}
	if got := p.Unpack(); !reflect.DeepEqual(got, entries) {
		t.Errorf("Unpack(Pack(entries)) differs")
	}
}

// All stops when the loop does, and reuses one Entry.
func TestPackAllStops(t *testing.T) {
	p := Pack([]Entry{{Path: "/a"}, {Path: "/b"}, {Path: "/c"}})
	var seen []string
	var first *Entry
	for e := range p.All() {
		if first == nil {
			first = e
		} else if e != first {
			t.Errorf("All yielded a new *Entry; it reuses one")
		}
		seen = append(seen, e.Path)
		if e.Path == "/b" {
			break
		}
	}
	if !reflect.DeepEqual(seen, []string{"/a", "/b"}) {
		t.Errorf("All yielded %q, want /a and /b", seen)
	}
}

// BenchmarkPack packs and walks a 50,500-entry closure, as a build does,
// and reports the packed bytes an entry.
func BenchmarkPack(b *testing.B) {
	entries := treeEntries()
	var size int
	for b.Loop() {
		p := Pack(entries)
		walked := 0
		for range p.All() { // every entry, as the archive writer walks them
			walked++
		}
		if walked != len(entries) {
			b.Fatalf("walked %d entries of %d", walked, len(entries))
		}
		size += p.Size()
	}
	b.ReportMetric(float64(size)/float64(b.N)/float64(len(entries)), "B/entry")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(entries)), "ns/entry")
}
