package qemu

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun boots Debian's kernel with no initrd: the first marker it
// prints ends the boot at once, and a marker that never comes ends it
// at the timeout with an error.
func TestRun(t *testing.T) {
	kernel, err := Kernel()
	if err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("no qemu-system-x86_64: install qemu-system-x86 (make deps)")
	}
	for _, tc := range []struct {
		name    string
		markers []string
		timeout time.Duration
		want    string // the marker seen
		err     string
	}{
		{"marker", []string{"never printed", "Linux version"}, 2 * time.Minute, "Linux version", ""},
		{"timeout", []string{"never printed"}, 2 * time.Second, "", "still running after 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "serial.log")
			r, err := Boot{
				Args: []string{"-nodefaults", "-display", "none", "-no-reboot", "-m", "256", "-accel", Accel(),
					"-serial", "file:" + log, "-kernel", kernel, "-append", "console=ttyS0 panic=-1"},
				Log: log, Markers: tc.markers, Timeout: tc.timeout,
			}.Run()
			if r.Marker != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("marker %q, error %v; want %q, %q", r.Marker, err, tc.want, tc.err)
			}
			if tc.want != "" && !strings.Contains(r.Log, tc.want) {
				t.Errorf("the log lacks the marker:\n%s", r.Log)
			}
		})
	}
}
