package elfdeps

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIsELF(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"\x7fELF", true},
		{"\x7fELF\x02\x01", true},
		{"\x7fEL", false},
		{"", false},
		{"#!/bin/sh", false},
		{"\x7fELG", false},
	} {
		if got := IsELF([]byte(tc.in)); got != tc.want {
			t.Errorf("IsELF(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestReadCrafted(t *testing.T) {
	f, err := Read(bytes.NewReader(craftedSample().bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_DYN {
		t.Errorf("header: %v %v %v %v", f.Class, f.Data, f.Machine, f.Type)
	}
	if f.Interp != "/lib64/ld-linux-x86-64.so.2" {
		t.Errorf("Interp = %q", f.Interp)
	}
	if !reflect.DeepEqual(f.Needed, []string{"libc.so.6", "libfoo.so.1"}) {
		t.Errorf("Needed = %q", f.Needed)
	}
	if f.Soname != "libsample.so.1" {
		t.Errorf("Soname = %q", f.Soname)
	}
	if f.RPath != nil || !reflect.DeepEqual(f.RunPath, []string{"$ORIGIN/../lib", "/opt/x"}) {
		t.Errorf("RPath = %q, RunPath = %q", f.RPath, f.RunPath)
	}
	wantDl := []DlopenNote{
		{Soname: []string{"libz.so.1", "libz.so"}, Feature: "z", Priority: PrioritySuggested},
		{Soname: []string{"libq.so.2"}, Priority: PriorityRecommended},
	}
	if !reflect.DeepEqual(f.Dlopen, wantDl) {
		t.Errorf("Dlopen = %+v, want %+v", f.Dlopen, wantDl)
	}
	if f.Package != `{"type":"deb","name":"sample"}` {
		t.Errorf("Package = %q", f.Package)
	}
	if got := f.Notes("GNU", 3); len(got) != 1 || !bytes.Equal(got[0], []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("Notes(GNU, 3) = %v", got)
	}
	if got := f.Notes("GNU", 4); got != nil {
		t.Errorf("Notes(GNU, 4) = %v, want none", got)
	}
}

func TestParseNotes(t *testing.T) {
	le := binary.LittleEndian
	note := func(name string, typ uint32, desc string, align int) []byte {
		var b []byte
		b = le.AppendUint32(b, uint32(len(name)+1))
		b = le.AppendUint32(b, uint32(len(desc)))
		b = le.AppendUint32(b, typ)
		b = append(b, name...)
		b = append(b, 0)
		for len(b)%align != 0 {
			b = append(b, 0)
		}
		b = append(b, desc...)
		for len(b)%align != 0 {
			b = append(b, 0)
		}
		return b
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name    string
		data    []byte
		align   uint64
		want    []Note
		wantErr bool
	}{
		{"empty", nil, 4, nil, false},
		{"one", note("FDO", 7, "abc", 4), 4, []Note{{"FDO", 7, []byte("abc")}}, false},
		{"two, padded name", cat(note("GNU", 1, "12345", 4), note("LONGNAME", 2, "", 4)), 4,
			[]Note{{"GNU", 1, []byte("12345")}, {"LONGNAME", 2, []byte{}}}, false},
		// An 8-aligned .note.gnu.property: header 12 + "GNU\0" = 16, so the
		// descriptor starts right after the name.
		{"align 8", cat(note("GNU", 5, "0123456789abcdef", 8), note("X", 9, "z", 8)), 8,
			[]Note{{"GNU", 5, []byte("0123456789abcdef")}, {"X", 9, []byte("z")}}, false},
		{"trailing padding", cat(note("A", 1, "x", 4), make([]byte, 8)), 4, []Note{{"A", 1, []byte("x")}}, false},
		{"descriptor overruns", note("FDO", 7, "abc", 4)[:17], 4, nil, true},
		{"huge namesz", append(le.AppendUint32(nil, 0xffffffff), make([]byte, 8)...), 4, nil, true},
		{"huge descsz", append(append(le.AppendUint32(nil, 4), le.AppendUint32(nil, 0xfffffff0)...), make([]byte, 8)...), 4, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNotes(tc.data, tc.align, le)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestExpandDST(t *testing.T) {
	a := &archInfo{lib: "lib64", platform: "x86_64"}
	noPlat := &archInfo{lib: "lib"}
	origin := func() string { return "/opt/app/bin" }
	for _, tc := range []struct {
		in   string
		a    *archInfo
		want string
		ok   bool
	}{
		{"/usr/lib", a, "/usr/lib", true},
		{"$ORIGIN", a, "/opt/app/bin", true},
		{"$ORIGIN/../lib", a, "/opt/app/bin/../lib", true},
		{"${ORIGIN}/x", a, "/opt/app/bin/x", true},
		{"${ORIGIN}x", a, "/opt/app/binx", true},
		{"$ORIGINAL/x", a, "$ORIGINAL/x", true},
		{"$ORIGIN.d", a, "/opt/app/bin.d", true},
		{"/a/$LIB/b", a, "/a/lib64/b", true},
		{"/a/${LIB}", a, "/a/lib64", true},
		{"/a/$LIBRARY", a, "/a/$LIBRARY", true},
		{"/p/$PLATFORM/q", a, "/p/x86_64/q", true},
		{"/p/$PLATFORM", noPlat, "", false},
		{"$HOME/x", a, "$HOME/x", true},
		{"/x$", a, "/x$", true},
		{"$ORIGIN/$LIB/${PLATFORM}", a, "/opt/app/bin/lib64/x86_64", true},
	} {
		got, ok := expandDST(tc.in, origin, tc.a)
		if got != tc.want || ok != tc.ok {
			t.Errorf("expandDST(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReadHostile feeds damaged files to Read: each must give an error
// (never ErrNotELF for a file with the magic, never a panic).
func TestReadHostile(t *testing.T) {
	good := craftedSample().bytes()
	le := binary.LittleEndian
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	ph := func(i int) int { return craftPhoff + i*craftPhentsize }
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"magic only", []byte("\x7fELF")},
		{"garbage after magic", append([]byte("\x7fELF"), bytes.Repeat([]byte{0xa5, 0x17, 0xff}, 100)...)},
		{"truncated header", good[:40]},
		{"truncated program headers", good[:100]},
		{"truncated before dynamic", good[:len(good)*2/3]},
		{"absurd phnum", mod(func(b []byte) []byte { le.PutUint16(b[ehPhnumOffset:], 0xffff); return b })},
		{"absurd shnum", mod(func(b []byte) []byte {
			le.PutUint64(b[ehShoffOffset:], 64)
			le.PutUint16(b[ehShnumOffset:], 0xfeff)
			return b
		})},
		{"extended shnum beyond file", mod(func(b []byte) []byte {
			// e_shnum 0 with e_shoff set: the count is in section 0's
			// sh_size, which points into the program headers here.
			le.PutUint64(b[ehShoffOffset:], 64)
			le.PutUint16(b[ehShnumOffset:], 0)
			return b
		})},
		{"shstrndx out of range", mod(func(b []byte) []byte {
			le.PutUint64(b[ehShoffOffset:], 64)
			le.PutUint16(b[ehShnumOffset:], 1)
			le.PutUint16(b[ehShstrndxOffst:], 7)
			return b
		})},
		{"huge PT_DYNAMIC", mod(func(b []byte) []byte { le.PutUint64(b[ph(craftDynamicPh)+phFileszOffset:], 1<<40); return b })},
		{"PT_DYNAMIC beyond file", mod(func(b []byte) []byte { le.PutUint64(b[ph(craftDynamicPh)+phOffsetOffset:], 1<<20); return b })},
		{"PT_DYNAMIC offset overflows", mod(func(b []byte) []byte { le.PutUint64(b[ph(craftDynamicPh)+phOffsetOffset:], 1<<63+5); return b })},
		{"huge PT_NOTE", mod(func(b []byte) []byte { le.PutUint64(b[ph(craftNotePh)+phFileszOffset:], 1<<33); return b })},
		{"DT_STRTAB outside PT_LOAD", func() []byte {
			b := bytes.Clone(good)
			f, _ := elf.NewFile(bytes.NewReader(b))
			dyn := f.Progs[craftDynamicPh]
			for i := dyn.Off; i < dyn.Off+dyn.Filesz; i += 16 {
				if elf.DynTag(le.Uint64(b[i:])) == elf.DT_STRTAB {
					le.PutUint64(b[i+8:], 1<<50)
				}
			}
			return b
		}()},
		{"string offset beyond DT_STRSZ", func() []byte {
			b := bytes.Clone(good)
			f, _ := elf.NewFile(bytes.NewReader(b))
			dyn := f.Progs[craftDynamicPh]
			for i := dyn.Off; i < dyn.Off+dyn.Filesz; i += 16 {
				if elf.DynTag(le.Uint64(b[i:])) == elf.DT_NEEDED {
					le.PutUint64(b[i+8:], 1<<20)
				}
			}
			return b
		}()},
		{"unterminated string", func() []byte {
			b := bytes.Clone(good)
			f, _ := elf.NewFile(bytes.NewReader(b))
			dyn := f.Progs[craftDynamicPh]
			for i := dyn.Off; i < dyn.Off+dyn.Filesz; i += 16 {
				// Point the table at 8 bytes of 'A' at the end of the file.
				switch elf.DynTag(le.Uint64(b[i:])) {
				case elf.DT_STRTAB:
					le.PutUint64(b[i+8:], uint64(len(b)-8))
				case elf.DT_STRSZ:
					le.PutUint64(b[i+8:], 8)
				}
			}
			le.PutUint64(b[len(b)-8:], 0x4141414141414141)
			return b
		}()},
		{"bad dlopen JSON", crafted{notes: []Note{{Owner: "FDO", Type: NoteTypeDlopen, Desc: []byte(`[{"soname":`)}}}.bytes()},
		{"dlopen entry without soname", crafted{notes: []Note{{Owner: "FDO", Type: NoteTypeDlopen, Desc: []byte(`[{"feature":"x"}]`)}}}.bytes()},
		{"note overruns", mod(func(b []byte) []byte {
			f, _ := elf.NewFile(bytes.NewReader(b))
			le.PutUint32(b[f.Progs[craftNotePh].Off+4:], 0x7fffffff)
			return b
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := read(bytes.NewReader(tc.data)) // without the recover: a panic fails the test
			if err == nil {
				t.Fatalf("no error; got %+v", f)
			}
			if errors.Is(err, ErrNotELF) {
				t.Fatalf("ErrNotELF for a file with the ELF magic: %v", err)
			}
		})
	}
}

// TestReadStrippedSections removes the section headers of a gcc-built
// library: dynamic entries and dlopen notes must still be found, through
// PT_DYNAMIC and PT_NOTE.
func TestReadStrippedSections(t *testing.T) {
	fx := fixtures(t)
	src := fx.host("/opt/dl/lib/libcarrier.so")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	withSections, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(withSections.Dlopen) == 0 || withSections.RunPath == nil {
		t.Fatalf("fixture lacks notes or DT_RUNPATH: %+v", withSections)
	}
	le := binary.LittleEndian
	stripped := bytes.Clone(data)
	le.PutUint64(stripped[ehShoffOffset:], 0)
	le.PutUint16(stripped[ehShnumOffset:], 0)
	le.PutUint16(stripped[ehShstrndxOffst:], 0)
	f, err := Read(bytes.NewReader(stripped))
	if err != nil {
		t.Fatal(err)
	}
	if ef, _ := elf.NewFile(bytes.NewReader(stripped)); len(ef.Sections) != 0 {
		t.Fatalf("still %d sections", len(ef.Sections))
	}
	// Non-loaded notes are only in sections; compare what both have.
	withSections.notes, f.notes = nil, nil
	if !reflect.DeepEqual(f, withSections) {
		t.Errorf("without sections:\n%+v\nwith sections:\n%+v", f, withSections)
	}
}

// TestHostPackageNote reads the FDO package note Debian puts in its
// binaries, a real-world input for the note parser.
func TestHostPackageNote(t *testing.T) {
	const bin = "/usr/lib/systemd/systemd"
	file, err := os.Open(bin)
	if err != nil {
		t.Skipf("host has no %s: %v", bin, err)
	}
	defer file.Close()
	f, err := Read(file)
	if err != nil {
		t.Fatal(err)
	}
	if f.Package == "" {
		t.Skipf("%s carries no .note.package (not a Debian build?)", bin)
	}
	var pkg struct{ Type, OS, Name, Architecture string }
	if err := json.Unmarshal([]byte(f.Package), &pkg); err != nil {
		t.Fatalf("package note %q: %v", f.Package, err)
	}
	if pkg.Name != "systemd" || pkg.Type == "" || pkg.Architecture == "" {
		t.Errorf("package note %+v", pkg)
	}
	if got := f.Notes(NoteOwnerFDO, NoteTypePackage); len(got) != 1 || !strings.HasPrefix(string(got[0]), f.Package) {
		t.Errorf("Notes(FDO, package) = %q", got)
	}
	// The GNU build ID is a note too, found in the same pass.
	if ids := f.Notes("GNU", 3 /* NT_GNU_BUILD_ID */); len(ids) != 1 || len(ids[0]) < 8 {
		t.Errorf("build ID notes = %x", ids)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(craftedSample().bytes())
	f.Add(crafted{align8: true, notes: []Note{{Owner: "GNU", Type: 5, Desc: make([]byte, 16)}}}.bytes())
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := read(bytes.NewReader(data))
		if !IsELF(data) {
			if !errors.Is(err, ErrNotELF) {
				t.Fatalf("no magic: err = %v", err)
			}
			return
		}
		if errors.Is(err, ErrNotELF) {
			t.Fatalf("ErrNotELF for a file with the magic")
		}
		if err == nil && file == nil {
			t.Fatal("nil file and nil error")
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzRead when
// ELFDEPS_WRITE_SEEDS is set; otherwise it checks the seeds are there.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if os.Getenv("ELFDEPS_WRITE_SEEDS") == "" {
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) == 0 {
			t.Fatalf("no fuzz seeds in %s (set ELFDEPS_WRITE_SEEDS=1 to write them): %v", dir, err)
		}
		return
	}
	sample := craftedSample().bytes()
	seeds := map[string][]byte{
		"crafted":       sample,
		"truncated":     sample[:len(sample)/2],
		"header-only":   sample[:64],
		"garbage":       append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0xff}, 120)...),
		"align8-notes":  crafted{align8: true, notes: []Note{{Owner: "GNU", Type: 5, Desc: make([]byte, 16)}, {Owner: "FDO", Type: NoteTypePackage, Desc: []byte(`{}`)}}}.bytes(),
		"rpath-runpath": crafted{needed: []string{"a/b.so"}, rpath: strp("/r"), runpath: strp("")}.bytes(),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	paths, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/*.so*")
	var files []*os.File
	for _, p := range paths {
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		files = append(files, f)
	}
	if len(files) == 0 {
		b.Skip("no libraries in /usr/lib/x86_64-linux-gnu")
	}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		for _, f := range files {
			if _, err := Read(f); err != nil && !errors.Is(err, ErrNotELF) {
				b.Fatalf("%s: %v", f.Name(), err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "files/s")
}

// TestPriority: note priorities read from JSON, named and ordered, with
// an empty one recommended (fdoNotes does the same for a missing one) and
// an unknown one ranked last.
func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		json string
		want Priority
	}{
		{`{"soname": ["a"], "priority": "required"}`, PriorityRequired},
		{`{"soname": ["a"], "priority": "suggested"}`, PrioritySuggested},
		{`{"soname": ["a"], "priority": ""}`, PriorityRecommended},
		{`{"soname": ["a"], "priority": "someday"}`, PriorityUnknown},
		{`{"soname": ["a"], "priority": "none"}`, PriorityUnknown},
	} {
		var n DlopenNote
		if err := json.Unmarshal([]byte(tc.json), &n); err != nil || n.Priority != tc.want {
			t.Errorf("%s: priority %v, %v; want %v", tc.json, n.Priority, err, tc.want)
		}
	}
	for p := PriorityNone; p < PriorityUnknown; p++ {
		if got, err := ParsePriority(p.String()); got != p || err != nil {
			t.Errorf("ParsePriority(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePriority("unknown"); err == nil {
		t.Error("ParsePriority accepts \"unknown\", which no manifest may ask for")
	}
	if !(PriorityRequired < PriorityRecommended && PriorityRecommended < PrioritySuggested && PrioritySuggested < PriorityUnknown) {
		t.Error("priorities are out of order")
	}
}
