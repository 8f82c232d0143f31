package kmod

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// referenceAliases parses every line of an alias file with bufio.Scanner
// and strings.Fields: what the walks of aliasFile must agree with.
func referenceAliases(text string) []aliasLine {
	var as []aliasLine
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "alias" {
			continue
		}
		norm, _ := NormalizeAlias(f[1])
		as = append(as, aliasLine{pattern: f[1], norm: norm, modname: strings.ReplaceAll(f[2], "-", "_")})
	}
	return as
}

// checkAliasWalks compares the walks of text with the reference: the
// lines whose pattern, normalized (as modules.alias is looked up) or not
// (as modules.symbols is), matches name, scanned and once the lookups
// have the file parsed, and the lines of mods.
func checkAliasWalks(t *testing.T, text, name string, mods map[string]uint32) {
	t.Helper()
	f := newAliasFile(text)
	ref := referenceAliases(text)
	norm, ok := NormalizeAlias(name)
	for i := 0; ok && norm != "" && i <= scansBeforeParse; i++ {
		key := func(a aliasLine) string { return a.norm }
		if i%2 == 1 {
			key = func(a aliasLine) string { return a.pattern }
		}
		var want, got []aliasLine
		for _, a := range ref {
			if key(a) != "" && fnmatch(key(a), norm) {
				want = append(want, a)
			}
		}
		for a := range f.matching(norm) {
			if key(a) != "" && fnmatch(key(a), norm) {
				got = append(got, a)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("lookup %d: lines matching %q in %q: %v, want %v", i+1, norm, text, got, want)
		}
	}
	var want, got []aliasLine
	for _, a := range ref {
		if _, in := mods[a.modname]; in {
			want = append(want, a)
		}
	}
	for a := range f.ofModules(mods) {
		got = append(got, a)
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines of %v in %q: %v, want %v", slices.Sorted(maps.Keys(mods)), text, got, want)
	}
}

// TestAliasFile: the lines a lookup or a generated index skips without
// parsing them are those that parsing every line leaves out, whatever
// the white space, wildcards and dashes.
func TestAliasFile(t *testing.T) {
	mods := map[string]uint32{"crc32c_generic": 0, "dev_one": 1, "foo": 2}
	tests := []struct {
		name, text, lookup string
	}{
		{"plain", "alias crc32c crc32c_generic\nalias crypto-crc32c crc32c_generic\n", "crc32c"},
		{"header and blank lines", aliasHeader + "\n\nalias crc32c crc32c_generic\n", "crc32c"},
		{"no final newline", "alias fs-foo foo\nalias crc32c crc32c_generic", "crc32c"},
		{"carriage returns", "alias crc32c crc32c_generic\r\nalias fs-foo foo\r\n", "fs-foo"},
		{"leading dash made an underscore", "alias -x foo\nalias _x dev_one\n", "_x"},
		{"wildcards first", "alias *c foo\nalias ?rc32c dev_one\nalias [a-c]rc32c foo\nalias \\crc32c dev_one\n", "crc32c"},
		{"other first characters", "alias pci:v* dev_one\nalias acpi* foo\n", "crc32c"},
		{"modalias", "alias pci:v00008086d*sv* dev_one\nalias pci:v00001AF4d* foo\n", "pci:v00008086d00001234sv00000000"},
		{"tabs and runs of spaces", "\t alias\t\tcrc32c   crc32c_generic \t\n", "crc32c"},
		{"module name with dashes", "alias fs-foo dev-one\n", "fs-foo"},
		{"not three fields", "alias crc32c\nalias crc32c foo extra\nalias\naliascrc32c foo\nxalias crc32c foo\n", "crc32c"},
		{"unmatched bracket", "alias crc32c] foo\nalias [crc32c foo\n", "crc32c"},
		{"no-break space before the word", "\u00a0alias crc32c foo\n", "crc32c"},
		{"no-break space after the word", "alias\u00a0crc32c foo\n", "crc32c"},
		{"ideographic space before the pattern", "alias \u3000crc32c foo\n", "crc32c"},
		{"next line in the module name", "alias crc32c x\u0085foo\n", "crc32c"},
		{"space before the module name", "alias crc32c\u00a0foo\n", "crc32c"},
		{"trailing Unicode space", "alias crc32c foo\u2003\n", "crc32c"},
		{"Unicode in the pattern", "alias crc32cé foo\nalias écrc32c foo\n", "crc32cé"},
		{"invalid UTF-8", "alias \xffcrc32c foo\nalias crc32c \xff\n", "crc32c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAliasWalks(t, tt.text, tt.lookup, mods)
		})
	}
}

// FuzzAliasFile: for any text, the walks agree with parsing every line.
func FuzzAliasFile(f *testing.F) {
	f.Add("alias crc32c crc32c_generic\nalias crypto-crc32c crc32c_generic\n", "crc32c", "crc32c_generic")
	f.Add("\u00a0alias\t-x\u3000foo\r\nalias *x dev-one\n", "_x", "dev_one")
	f.Add("alias pci:v00008086d*sv* dev_one\n", "pci:v00008086d0000sv0", "foo")
	f.Fuzz(func(t *testing.T, text, lookup, module string) {
		checkAliasWalks(t, text, lookup, map[string]uint32{module: 0})
	})
}

// TestAppendFields: fields as strings.Fields splits them, in ASCII and
// beyond.
func TestAppendFields(t *testing.T) {
	for _, l := range []string{
		"", " ", "a", " a b  c ", "\ta\v\fb\r", "alias x y",
		"a\u00a0b", "a\u0085b c", "\u3000a b\u2003", "a\xffb c", "é è",
	} {
		got := appendFields([]string{"kept"}, l)
		want := append([]string{"kept"}, strings.Fields(l)...)
		if !slices.Equal(got, want) {
			t.Errorf("appendFields(%q) = %q, want %q", l, got, want)
		}
	}
}

// TestEachLine: lines as bufio.ScanLines splits them.
func TestEachLine(t *testing.T) {
	for _, s := range []string{
		"", "\n", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\na\n\n", "a\r", "a\r\r\n", "\r\n",
	} {
		var want []string
		sc := bufio.NewScanner(strings.NewReader(s))
		for sc.Scan() {
			want = append(want, sc.Text())
		}
		got := slices.Collect(eachLine(s))
		if !slices.Equal(got, want) {
			t.Errorf("eachLine(%q) = %q, want %q", s, got, want)
		}
	}
}

// writeLargeIndexes writes a modules directory under root whose
// modules.dep has n modules and whose modules.alias and modules.symbols
// have eight lines for each, as a distribution kernel's have tens of
// thousands, and returns the directory's path in the tree.
func writeLargeIndexes(t testing.TB, root string, n int) string {
	t.Helper()
	var dep, alias, symbols strings.Builder
	alias.WriteString(aliasHeader)
	symbols.WriteString(symbolsHeader)
	for i := range n {
		fmt.Fprintf(&dep, "kernel/drivers/m%d.ko: kernel/lib/l%d.ko\n", i, i%7)
		for j := range 8 {
			fmt.Fprintf(&alias, "alias pci:v%08Xd%08Xsv*sd*bc*sc*i* m%d\n", i, j, i)
			fmt.Fprintf(&symbols, "alias symbol:m%d_fn%d m%d\n", i, j, i)
		}
	}
	dir := "lib/modules/6.1.0-large"
	writeFiles(t, root, map[string]string{
		dir + "/modules.dep":     dep.String(),
		dir + "/modules.alias":   alias.String(),
		dir + "/modules.symbols": symbols.String(),
	})
	return "/" + dir
}

// TestLoadDBAllocations: reading the indexes costs allocations for the
// files, not for each of their lines, so that every build, which reads
// them whole, does not pay for the kernel's tens of thousands of aliases.
func TestLoadDBAllocations(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{500, 4000} {
		root := t.TempDir()
		dir := writeLargeIndexes(t, root, n)
		fsys := openRoot(t, root)
		allocs[n] = testing.AllocsPerRun(3, func() {
			if _, err := loadDB(fsys, dir); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Presized maps allocate a table for each thousand or so entries.
	if allocs[4000] > allocs[500]+50 {
		t.Errorf("loadDB: %.0f allocations for 4,000 modules and 64,000 alias lines, %.0f for 500 and 8,000: they grow with the lines",
			allocs[4000], allocs[500])
	}
}

// BenchmarkOpenKernel reads the indexes of a kernel of 4,000 modules
// and 64,000 alias lines and looks an alias up, as every build with
// modules does.
func BenchmarkOpenKernel(b *testing.B) {
	root := b.TempDir()
	dir := writeLargeIndexes(b, root, 4000)
	fsys := openRoot(b, root)
	b.ReportAllocs()
	for b.Loop() {
		k, err := OpenKernel(fsys, filepath.Base(dir))
		if err != nil {
			b.Fatal(err)
		}
		if mods, _, err := k.Lookup("pci:v00000F00d00000003sv0sd0bc0sc0i0"); err != nil || len(mods) != 1 {
			b.Fatalf("Lookup: %v, %v", mods, err)
		}
	}
}

// BenchmarkHostResolve resolves a few names on the machine's kernel, the
// module part of a build of the systemd example.
func BenchmarkHostResolve(b *testing.B) {
	fsys := openRoot(b, "/")
	if _, err := os.Stat("/lib/modules"); err != nil {
		b.Skip("no kernel modules on this machine")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Resolve(fsys, Options{Load: hostNames, Include: []string{"virtio_pci", "virtio_scsi", "sd_mod"}}); err != nil {
			b.Fatal(err)
		}
	}
}
