package uki

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSign signs a UKI with a throwaway key: sbverify --cert accepts the
// result with its certificate and refuses it with another.
func TestSign(t *testing.T) {
	dir := t.TempDir()
	key, cert := newKey(t, dir, "db")
	_, other := newKey(t, dir, "other")
	stub := readFile(t, debianStub, "systemd-boot-efi")
	img := writeUKI(t, stub, testSections(t))
	var signed bytes.Buffer
	if err := (Signer{Key: key, Cert: cert, Dir: dir}).Sign(t.Context(), &signed, bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "signed.efi")
	if err := os.WriteFile(p, signed.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbverify", "--cert", cert, p).CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
		t.Errorf("sbverify --cert: %v\n%s", err, out)
	}
	if out, err := exec.Command("sbverify", "--cert", other, p).CombinedOutput(); err == nil {
		t.Errorf("sbverify accepts another certificate:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("the signing directory is left behind: %v", entries)
	}
}

// TestSignErrors gives Sign keys it cannot sign with: each is an error
// that says why, and nothing is written.
func TestSignErrors(t *testing.T) {
	dir := t.TempDir()
	key, cert := newKey(t, dir, "db")
	otherKey, _ := newKey(t, dir, "other")
	encrypted := filepath.Join(dir, "encrypted.key")
	if out, err := exec.Command("openssl", "pkey", "-in", key, "-aes256", "-passout", "pass:secret", "-out", encrypted).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	img := writeUKI(t, readFile(t, debianStub, "systemd-boot-efi"), []Section{Bytes(Linux, []byte("k")), CmdlineSection("x")})
	for _, tc := range []struct {
		name, key, cert, want string
	}{
		{"key of another cert", otherKey, cert, "private key does not match certificate"},
		{"encrypted key", encrypted, cert, "sbsign"},
		{"no key", filepath.Join(dir, "missing.key"), cert, "sbsign"},
		{"cert not PEM", key, key, "sbsign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := (Signer{Key: tc.key, Cert: tc.cert}).Sign(t.Context(), &out, bytes.NewReader(img))
			if !errors.Is(err, ErrSign) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %v saying %q", err, ErrSign, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes written", out.Len())
			}
		})
	}
}
