package tests

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// swappedKeymap is a console keymap source, as loadkeys reads it, that
// swaps Y and Z as German layouts do.
const swappedKeymap = "keycode 21 = +z\nkeycode 44 = +y\n"

// TestStorageBootKeymap types the passphrase on a USB keyboard whose
// console keymap swaps Y and Z: the keymap fragment must load the
// compiled keymap (gzipped, as console-setup keeps it) before the prompt,
// so that pressing the key at Z's US place types the passphrase's "y".
func TestStorageBootKeymap(t *testing.T) {
	storageBoots(t)
	s := stackNamed(t, "luks-usb-keyboard")
	s.name = "luks-usb-keyboard-keymap"
	s.include = append(slices.Clone(s.include), "keymap")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(swappedKeymap))
	must(t, zw.Close())
	kmap := filepath.Join(t.TempDir(), "cached_UTF-8_swapped.kmap.gz")
	must(t, os.WriteFile(kmap, gz.Bytes(), 0o644))
	s.extra = []any{map[string]any{"source": kmap, "target": "/etc/mkinitrd-ng/keymap.kmap.gz"}}
	if !strings.Contains(s.answer, "y") {
		t.Fatalf("the passphrase %q has no y to type", s.answer)
	}
	s.answer = strings.ReplaceAll(s.answer, "y", "z")
	log := s.boot(t, s.disks(t))
	checkSteps(t, log, s.steps)
	// The keymap may load before or after the keyboard appears, but
	// before the unlock.
	loaded, unlocked := strings.Index(log, "Finished mkinitrd-ng-keymap.service."), strings.Index(log, "Finished systemd-cryptsetup@")
	if loaded < 0 || loaded > unlocked {
		t.Errorf("the keymap was not loaded before the unlock; last lines:\n%s", tail(log, 40))
	}
}
