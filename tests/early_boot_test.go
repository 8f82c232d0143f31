package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootEarlySegments boots an image whose first segments are the
// microcode cpio and a prepended cpio (made by GNU cpio), followed by the
// zstd main archive: the guest sees the files of all three.
func TestBootEarlySegments(t *testing.T) {
	root := t.TempDir()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal("no /bin/busybox: install busybox-static (make deps)")
	}
	writeFiles(t, root, map[string]string{
		"lib/firmware/intel-ucode/06-8e-09":               "intel microcode blob\n",
		"lib/firmware/intel-ucode/06-9e-0a":               "second intel blob\n",
		"lib/firmware/amd-ucode/microcode_amd_fam17h.bin": "amd microcode blob\n",
		"lib/firmware/amd-ucode/README":                   "not microcode\n",
	})
	must(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755))
	// The prepended archive, made by GNU cpio from a small tree.
	early := t.TempDir()
	writeFiles(t, early, map[string]string{"early/marker": "from the prepended segment\n"})
	list := "early\nearly/marker\n"
	cpio := runCmdIn(t, early, nil, []byte(list), "cpio", "-o", "-H", "newc", "--quiet")
	if cpio.code != 0 {
		t.Fatalf("cpio -o: %s", cpio.stderr)
	}
	must(t, os.WriteFile(filepath.Join(root, "early.cpio"), []byte(cpio.stdout), 0o644))

	m := filepath.Join(t.TempDir(), "m.json")
	must(t, os.WriteFile(m, []byte(`{"compress": "zstd", "microcode": true, "prepend": ["/early.cpio"], "contents": [
 {"target": "/init", "mode": "0755", "text": "#!/bin/busybox sh\n/bin/busybox cat /early/marker /kernel/x86/microcode/GenuineIntel.bin /kernel/x86/microcode/AuthenticAMD.bin && echo EARLY-OK\n/bin/busybox poweroff -f\n"},
 {"target": "/dev/console", "type": "char", "major": 5, "minor": 1}]}`), 0o644))
	img := filepath.Join(t.TempDir(), "initrd.img")
	if r := run(t, nil, "-m", m, "--root", root, "-o", img); r.code != 0 {
		t.Fatalf("mkinitrd-ng: %s", r.stderr)
	}
	segs := mustRun(t, exe, "ls", "-l", img)
	// The two uncompressed archives, microcode first, read as one
	// segment; the compressed main archive follows.
	for _, want := range []string{"segment 0: cpio at offset 0", "segment 1: zstd", "[0] /kernel/x86/microcode/GenuineIntel.bin", "[0] /early/marker"} {
		if !strings.Contains(segs, want) {
			t.Errorf("ls -l lacks %q:\n%s", want, segs)
		}
	}
	if strings.Index(segs, "GenuineIntel.bin") > strings.Index(segs, "early/marker") {
		t.Errorf("the microcode is not the first archive:\n%s", segs)
	}
	log := vm{initrd: img, marker: "EARLY-OK", timeout: 3 * time.Minute}.boot(t)
	for _, want := range []string{"from the prepended segment", "intel microcode blob\nsecond intel blob", "amd microcode blob"} {
		if !strings.Contains(strings.ReplaceAll(log, "\r", ""), want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(log, "not microcode") {
		t.Error("a file that is not AMD microcode went into AuthenticAMD.bin")
	}
}
