package uki

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// A Signer signs UKIs for Secure Boot with sbsign, from Debian's
// sbsigntool, and checks each signature with sbverify before it hands the
// image out. No maintained Go module signs PE images with Authenticode,
// so the signature is an external step.
type Signer struct {
	// Key is the private key's PEM file, not encrypted: sbsign would ask
	// for a passphrase on a terminal.
	Key string
	// Cert is the certificate's PEM file, the one the firmware's db (or
	// shim's MOK list) trusts.
	Cert string
	// Dir is where the unsigned and signed images are kept while sbsign
	// runs, in a private directory removed afterwards ("": os.TempDir).
	Dir string
}

// Sign reads an unsigned UKI from image, signs it and writes the signed
// image to w. The signature must be one that sbverify --cert accepts;
// nothing is written to w otherwise. A key that does not match its
// certificate is an error of sbsign's. The tools are stopped with ctx.
func (s Signer) Sign(ctx context.Context, w io.Writer, image io.Reader) error {
	dir, err := os.MkdirTemp(s.Dir, "mkinitrd-ng-sign-")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSign, err)
	}
	defer os.RemoveAll(dir)
	unsigned, signed := filepath.Join(dir, "unsigned.efi"), filepath.Join(dir, "signed.efi")
	if err := writeNew(unsigned, image); err != nil {
		return fmt.Errorf("%w: %v", ErrSign, err)
	}
	if err := runTool(ctx, "sbsign --key "+s.Key+" --cert "+s.Cert, "sbsign", "--key", s.Key, "--cert", s.Cert, "--output", signed, unsigned); err != nil {
		return err
	}
	if err := runTool(ctx, "sbverify --cert "+s.Cert, "sbverify", "--cert", s.Cert, signed); err != nil {
		return err
	}
	f, err := os.Open(signed)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSign, err)
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// writeNew writes r to a new file readable only by its owner.
func writeNew(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runTool runs a signing tool and returns its error with what it said,
// prefixed with what, the command without its temporary files. It runs
// in a session of its own, without a terminal, so that an encrypted key
// is an error rather than a prompt that waits forever.
func runTool(ctx context.Context, what, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s: %v: %s", ErrSign, what, err, strings.Join(strings.Fields(out.String()), " "))
	}
	return nil
}
