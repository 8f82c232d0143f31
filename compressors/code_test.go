package compressors

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestCodeOf(t *testing.T) {
	for _, tt := range []struct {
		m    elf.Machine
		want Code
	}{
		{elf.EM_X86_64, X86Code},
		{elf.EM_386, X86Code},
		{elf.EM_AARCH64, NoCode},
		{elf.EM_NONE, NoCode},
	} {
		if got := CodeOf(tt.m); got != tt.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tt.m, got, tt.want)
		}
	}
}

// TestForCode: only xz-cli filters x86 code, with --x86 before its LZMA2
// options, and at its default level with a faster search.
func TestForCode(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip(err)
	}
	for _, tt := range []struct {
		name  string
		level int
		code  Code
		want  string // the filtered command line; "" for none
		any   bool   // whether the compressor filters any code
	}{
		{"xz-cli", 0, X86Code, "xz -q -c -T1 --check=crc32 --x86 --lzma2=preset=1,dict=2MiB", true},
		{"xz-cli", 9, X86Code, "xz -q -c -T1 --check=crc32 --x86 --lzma2=preset=9,dict=8MiB", true},
		{"xz-cli", 0, NoCode, "", true},
		{"xz", 0, X86Code, "", false},
		{"zstd", 0, X86Code, "", false},
	} {
		c := lookup(t, tt.name, tt.level)
		if got := FiltersCode(c); got != tt.any {
			t.Errorf("FiltersCode(%s %d) = %v", tt.name, tt.level, got)
		}
		fc, filtered := ForCode(c, tt.code)
		switch {
		case filtered != (tt.want != ""):
			t.Errorf("ForCode(%s %d, %v): filtered %v, want %q", tt.name, tt.level, tt.code, filtered, tt.want)
		case filtered && fc.(*cliEngine).String() != tt.want:
			t.Errorf("ForCode(%s %d, %v) runs %q, want %q", tt.name, tt.level, tt.code, fc, tt.want)
		case !filtered && fc != c:
			t.Errorf("ForCode(%s %d, %v) returns another compressor, %v", tt.name, tt.level, tt.code, fc)
		}
	}
}

// TestCompressCode: a segment of code and one of data, written with
// xz-cli, make one block with the x86 filter and one without, as xz
// itself lists them, and decompress to what was written.
func TestCompressCode(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	code = code[:min(len(code), 1<<20)]
	data := mixedData(100<<10, 3)
	var out bytes.Buffer
	err = WriteParts(&out, lookup(t, "xz-cli", 0), SegmentOptions{Jobs: 2}, 2, func(i int, p *Part) error {
		seg, kind := code, X86Code
		if i == 1 {
			seg, kind = data, NoCode
		}
		return compressPart(p, kind, seg, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	f := t.TempDir() + "/out.xz"
	if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("xz", "--robot", "-lvv", f).Output()
	if err != nil {
		t.Fatalf("xz -lvv: %v", err)
	}
	var filters []string
	for line := range strings.Lines(string(list)) {
		if fields := strings.Split(strings.TrimSpace(line), "\t"); fields[0] == "block" {
			filters = append(filters, fields[len(fields)-1])
		}
	}
	if len(filters) != 2 || !strings.HasPrefix(filters[0], "--x86 ") || strings.Contains(filters[1], "--x86") {
		t.Errorf("blocks' filters %q, want x86 then LZMA2 only", filters)
	}
	got, err := exec.Command("xz", "-dc", f).Output()
	if err != nil {
		t.Fatalf("xz -dc: %v", err)
	}
	if !bytes.Equal(got, append(append([]byte(nil), code...), data...)) {
		t.Errorf("xz -dc gives %d bytes, want the %d written", len(got), len(code)+len(data))
	}
}
