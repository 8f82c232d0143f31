package compressors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"time"
)

// ErrNoFingerprint is the error of Fingerprint for a compressor whose
// output is not known to depend only on its input and its settings.
var ErrNoFingerprint = errors.New("compressors: the compressor's output is not known to depend only on its input")

// Fingerprint returns what, besides its input, decides the bytes c
// writes: the engine, its level and options, and the version of the
// library or of the tool that runs. Equal fingerprints write equal bytes
// for equal input, so that a segment compressed once can stand for the
// same segment compressed again. It fails with ErrNoFingerprint for an
// external "cmd:" command, and for a built-in writer whose library
// version the binary does not record.
func Fingerprint(c Compressor) (string, error) {
	switch c := c.(type) {
	case *builtin:
		v, ok := moduleVersion(c.library)
		if !ok {
			probe, err := c.probe()
			if err != nil {
				return "", fmt.Errorf("%w: %s: %w", ErrNoFingerprint, c, err)
			}
			v = "of unrecorded version, writing " + probe
		}
		return fmt.Sprintf("%s; %s %s; %s", c, c.library, v, c.settings), nil
	case *cliEngine:
		return c.fingerprint()
	}
	return "", fmt.Errorf("%w: %s", ErrNoFingerprint, c.Name())
}

// probe returns a hash of what c writes for a sample: a binary that does
// not record its modules' versions (a test) tells its library by its
// output instead.
func (c *builtin) probe() (string, error) {
	h := sha256.New()
	zw, err := c.NewWriter(h)
	if err != nil {
		return "", err
	}
	for i := range 4096 {
		fmt.Fprintf(zw, "%d %x\n", i, i*i*i)
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// moduleVersion returns the version of the module path the binary is
// built with; "" and true for none (the format has no library).
func moduleVersion(path string) (string, bool) {
	if path == "" {
		return "", true
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, d := range info.Deps {
		if d.Path == path {
			if d.Replace != nil {
				d = d.Replace
			}
			return d.Version + " " + d.Sum, true
		}
	}
	return "", false
}

// versionTimeout bounds the run of a tool's --version.
const versionTimeout = 10 * time.Second

// fingerprint is the command line, the tool's own account of its
// version (xz's names liblzma's too), and the program file's size and
// modification time, which change with a rebuilt package of the same
// version.
func (c *cliEngine) fingerprint() (string, error) {
	fi, err := os.Stat(c.path)
	if err != nil {
		return "", fmt.Errorf("compressor %s: %w", c.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, "--version")
	cmd.Env = c.env
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("compressor %s: %s --version: %w", c.name, c.path, err)
	}
	return fmt.Sprintf("%s; %s; %s %d bytes, modified %d", c.line, bytes.TrimSpace(out), c.path, fi.Size(), fi.ModTime().UnixNano()), nil
}
