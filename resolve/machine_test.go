package resolve

import (
	"debug/elf"
	"testing"
)

// TestEntryMachine: programs and shared libraries, however they are
// found, carry their machine; a relocatable object, a script and a text
// do not.
func TestEntryMachine(t *testing.T) {
	tr := newTree(t)
	tr.withLibc()
	tr.lib("/usr/lib/libfoo.so.1", "libfoo.so.1", `void foo(void) {}`)
	tr.gcc("/usr/bin/app", `void foo(void); int main(void) { foo(); return 0; }`, "-lfoo", "-Wl,-rpath,/usr/lib")
	tr.gcc("/usr/lib/modules/m.ko", `int m(void) { return 1; }`, "-c")
	tr.write("/usr/bin/script", "#!/usr/bin/app\n", 0o755)
	tr.write("/etc/text", "text\n", 0o644)
	c := tr.mustResolve(`{"contents": [{"source": "/usr/bin/script"}, {"source": "/usr/bin/app"},
		{"source": "/usr/lib/modules/m.ko"}, {"source": "/etc/text"}]}`)
	want := map[string]elf.Machine{
		"/usr/bin/app":                        elf.EM_X86_64,
		"/usr/lib/libfoo.so.1":                elf.EM_X86_64,
		"/usr/lib/x86_64-linux-gnu/libc.so.6": elf.EM_X86_64,
		"/usr/lib/modules/m.ko":               elf.EM_NONE,
		"/usr/bin/script":                     elf.EM_NONE,
		"/etc/text":                           elf.EM_NONE,
	}
	seen := 0
	for _, e := range c.Entries {
		m, ok := want[e.Path]
		if !ok {
			continue
		}
		seen++
		if e.Machine != m {
			t.Errorf("%s: machine %v, want %v", e.Path, e.Machine, m)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d entries found: %v", seen, len(want), paths(c))
	}
}
