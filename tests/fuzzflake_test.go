package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFuzzFlake: the fuzz smoke run forgives only Go's own deadline race
// (tests/fuzzflake.sh), never a failure that found something.
func TestFuzzFlake(t *testing.T) {
	tests := []struct {
		name  string
		log   string
		flake bool
	}{
		{"deadline race", `fuzz: elapsed: 9s, execs: 147795 (11055/sec), new interesting: 18 (total: 75)
fuzz: elapsed: 11s, execs: 161056 (7538/sec), new interesting: 18 (total: 75)
--- FAIL: FuzzRead (10.77s)
    context deadline exceeded
FAIL
exit status 1
`, true},
		{"failing input", `--- FAIL: FuzzRead (0.12s)
    --- FAIL: FuzzRead (0.00s)
        elf_test.go:300: Read: index out of range
    Failing input written to testdata/fuzz/FuzzRead/5d1c
    To re-run:
    go test -run=FuzzRead/5d1c
    context deadline exceeded
FAIL
`, false},
		{"panic", `--- FAIL: FuzzParse (0.40s)
panic: runtime error: index out of range [recovered]
    context deadline exceeded
`, false},
		{"hung worker", `fuzzing process hung or terminated unexpectedly: exit status 2
    context deadline exceeded
`, false},
		{"other failure", `--- FAIL: FuzzDetect (0.01s)
    detect_test.go:40: wrong format
FAIL
`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "fuzz.log")
			must(t, os.WriteFile(log, []byte(tt.log), 0o644))
			err := exec.Command("sh", "fuzzflake.sh", log).Run()
			if got := err == nil; got != tt.flake {
				t.Errorf("fuzzflake.sh says flake = %v (%v), want %v", got, err, tt.flake)
			}
		})
	}
}
