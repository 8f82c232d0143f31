package tests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/uki"
)

// ukiStub is the EFI stub of Debian's systemd-boot-efi, the default.
const ukiStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// snakeoil is Debian's test Secure Boot key pair, which the db of ovmf's
// OVMF_VARS_4M.snakeoil.fd trusts; the key's passphrase is "snakeoil".
const (
	snakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
	snakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
)

// buildUKI runs mkinitrd-ng uki with the booted kernel and args, writing
// out; it fails the test unless the command succeeds.
func buildUKI(t *testing.T, out string, args ...string) {
	t.Helper()
	if _, err := os.Stat(ukiStub); err != nil {
		t.Fatal("no systemd stub: install systemd-boot-efi (make deps)")
	}
	args = append([]string{"uki", "--kernel", kernel(t), "-o", out}, args...)
	if r := run(t, nil, args...); r.code != 0 {
		t.Fatalf("mkinitrd-ng %v: exit %d\n%s", args, r.code, r.stderr)
	}
}

// ukiSection returns the content of a section of the UKI file.
func ukiSection(t *testing.T, file string, k uki.Kind) []byte {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	s, err := uki.ReadSection(f, k)
	must(t, err)
	data, err := io.ReadAll(s)
	must(t, err)
	return data
}

// busyboxManifestFile writes the busybox manifest into dir.
func busyboxManifestFile(t *testing.T, dir string) string {
	t.Helper()
	m := filepath.Join(dir, "busybox.json")
	must(t, os.WriteFile(m, []byte(busyboxManifest), 0o644))
	return m
}

// ukiAndInitrd builds, from the manifest m, a UKI a.efi with the command
// line and an initrd.img for the booted kernel, both compressed with comp.
func ukiAndInitrd(t *testing.T, dir, m, comp, cmdline string) (efi, initrd string) {
	t.Helper()
	efi, initrd = filepath.Join(dir, "a.efi"), filepath.Join(dir, "initrd.img")
	buildUKI(t, efi, "-m", m, "--cmdline", cmdline, "-c", comp)
	if r := run(t, nil, "-m", m, "-o", initrd, "-c", comp, "--kernel-version", kernelVersion(t)); r.code != 0 {
		t.Fatalf("mkinitrd-ng: %s", r.stderr)
	}
	return efi, initrd
}

// TestUKISections builds a UKI and reads each section back: the command
// line as given, the kernel's version, this root's os-release, the
// initrd byte for byte as a build writes it, the kernel; two builds give
// the same bytes, and objdump lists the sections in ukify's order.
func TestUKISections(t *testing.T) {
	dir := t.TempDir()
	m := busyboxManifestFile(t, dir)
	efi, initrd := ukiAndInitrd(t, dir, m, "zstd", "root=/dev/vda quiet")
	osRelease, err := os.ReadFile("/etc/os-release")
	must(t, err)
	kernelData, err := os.ReadFile(kernel(t))
	must(t, err)
	initrdData, err := os.ReadFile(initrd)
	must(t, err)
	for _, tc := range []struct {
		kind uki.Kind
		want []byte
	}{
		{uki.Cmdline, []byte("root=/dev/vda quiet")},
		{uki.Uname, []byte(kernelVersion(t))},
		{uki.OSRel, osRelease},
		{uki.Initrd, initrdData},
		{uki.Linux, kernelData},
	} {
		if got := ukiSection(t, efi, tc.kind); !bytes.Equal(got, tc.want) {
			t.Errorf("%v: %d bytes, want the %d of %.40q", tc.kind, len(got), len(tc.want), tc.want)
		}
	}
	again := filepath.Join(dir, "b.efi")
	buildUKI(t, again, "-m", m, "--cmdline", "root=/dev/vda quiet", "-c", "zstd")
	if a, b := mustRead(t, efi), mustRead(t, again); !bytes.Equal(a, b) {
		t.Error("two builds of one UKI differ")
	}
	out := mustRun(t, "objdump", "-h", efi)
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[1], ".") {
			names = append(names, f[1])
		}
	}
	if got := strings.Join(names, " "); !strings.HasSuffix(got, ".sdmagic .osrel .cmdline .uname .initrd .linux") {
		t.Errorf("objdump -h lists %s", got)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	must(t, err)
	return data
}

// TestUKIOptions builds UKIs with --initrd, --os-release and an explicit
// empty command line, which is one NUL byte: a .cmdline of size 0 would
// be none.
func TestUKIOptions(t *testing.T) {
	dir := t.TempDir()
	initrd, osRelease := filepath.Join(dir, "given.img"), filepath.Join(dir, "os-release")
	must(t, os.WriteFile(initrd, []byte("not even a cpio: it goes in as it is"), 0o644))
	must(t, os.WriteFile(osRelease, []byte("ID=test\n"), 0o644))
	efi := filepath.Join(dir, "a.efi")
	buildUKI(t, efi, "--initrd", initrd, "--os-release", osRelease, "--cmdline", "")
	for k, want := range map[uki.Kind]string{uki.Cmdline: "\x00", uki.OSRel: "ID=test\n", uki.Initrd: string(mustRead(t, initrd))} {
		if got := string(ukiSection(t, efi, k)); got != want {
			t.Errorf("%v: %q, want %q", k, got, want)
		}
	}
}

// TestUKISign signs a UKI with Debian's snakeoil key: sbverify accepts it
// with the snakeoil certificate and finds no gap between its sections.
func TestUKISign(t *testing.T) {
	dir := t.TempDir()
	key := snakeoilKeyFile(t, dir)
	efi := filepath.Join(dir, "signed.efi")
	buildUKI(t, efi, "-m", busyboxManifestFile(t, dir), "--cmdline", "root=/dev/vda", "--sign-key", key, "--sign-cert", snakeoilCert)
	out, err := exec.Command("sbverify", "--cert", snakeoilCert, efi).CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Errorf("sbverify --cert: %v\n%s", err, out)
	}
}

// snakeoilKeyFile decrypts Debian's snakeoil key into dir.
func snakeoilKeyFile(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Stat(snakeoilKey); err != nil {
		t.Fatal("no snakeoil key: install ovmf (make deps)")
	}
	key := filepath.Join(dir, "snakeoil.key")
	mustRun(t, "openssl", "pkey", "-passin", "pass:snakeoil", "-in", snakeoilKey, "-out", key)
	return key
}

// TestUKIBadInput gives uki what cannot make a UKI: each is an error that
// says what is wrong, with the exit status of its kind, and the old output
// is left as it was, with no temporary file beside it.
func TestUKIBadInput(t *testing.T) {
	dir := t.TempDir()
	m := busyboxManifestFile(t, dir)
	notPE := filepath.Join(dir, "not-pe")
	must(t, os.WriteFile(notPE, []byte("#!/bin/sh\n"), 0o644))
	_, otherCert := newCert(t, dir)
	key := snakeoilKeyFile(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"stub not PE", []string{"-m", m, "--cmdline", "x", "--stub", notPE}, 1, "--stub " + notPE + ": stub: uki: not a PE image"},
		{"kernel not bzImage", []string{"-m", m, "--cmdline", "x", "--kernel", notPE}, 1, "--kernel " + notPE + ": uki: not an x86 bzImage"},
		{"kernel missing", []string{"-m", m, "--cmdline", "x", "--kernel", filepath.Join(dir, "nothing")}, 1, "no such file"},
		{"no cmdline", []string{"-m", m}, 2, "--cmdline is required"},
		{"key of another cert", []string{"-m", m, "--cmdline", "x", "--sign-key", key, "--sign-cert", otherCert}, 1, "private key does not match certificate"},
		{"key without cert", []string{"-m", m, "--cmdline", "x", "--sign-key", key}, 2, "--sign-key and --sign-cert go together"},
		{"manifest and initrd", []string{"-m", m, "--initrd", notPE, "--cmdline", "x"}, 2, "either --manifest"},
		{"other kernel version", []string{"-m", m, "--cmdline", "x", "--kernel-version", "1.2.3"}, 2, "--kernel-version 1.2.3: the kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.efi")
			must(t, os.WriteFile(out, []byte("old UKI"), 0o600))
			r := run(t, nil, append([]string{"uki", "--kernel", kernel(t), "-o", out}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d, saying %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
			if got := string(mustRead(t, out)); got != "old UKI" {
				t.Errorf("the output is now %.40q", got)
			}
			if left, _ := os.ReadDir(filepath.Dir(out)); len(left) != 1 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// newCert makes a throwaway self-signed key and certificate.
func newCert(t *testing.T, dir string) (key, cert string) {
	t.Helper()
	key, cert = filepath.Join(dir, "other.key"), filepath.Join(dir, "other.pem")
	mustRun(t, "openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN=other", "-keyout", key, "-out", cert)
	return key, cert
}

// TestUKIOutputIsInput refuses to write a UKI over one of its inputs, and
// leaves the input as it was.
func TestUKIOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.img")
	must(t, os.WriteFile(initrd, []byte("initrd"), 0o644))
	r := run(t, nil, "uki", "--kernel", kernel(t), "--initrd", initrd, "--cmdline", "x", "-o", initrd)
	if r.code != 1 || !strings.Contains(r.stderr, "is the --initrd") {
		t.Errorf("exit %d:\n%s", r.code, r.stderr)
	}
	if got := string(mustRead(t, initrd)); got != "initrd" {
		t.Errorf("the input is now %.40q", got)
	}
}

// TestUKIInspect reads UKIs with ls and diff, which read their .initrd:
// the listing is the initrd's, and the size gate of diff works on UKIs
// (uncompressed, so that 4 KiB more are 4 KiB more).
func TestUKIInspect(t *testing.T) {
	dir := t.TempDir()
	m := busyboxManifestFile(t, dir)
	efi, initrd := ukiAndInitrd(t, dir, m, "none", "x")
	if a, b := run(t, nil, "ls", "-l", efi), run(t, nil, "ls", "-l", initrd); a.code != 0 || a.stdout != b.stdout {
		t.Errorf("ls -l of the UKI: exit %d\n%s%s\nwant the initrd's:\n%s", a.code, a.stdout, a.stderr, b.stdout)
	}
	if r := run(t, nil, "diff", "--fail-over", "0", initrd, efi); r.code != 0 {
		t.Errorf("diff of the initrd and its UKI: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	bigger := filepath.Join(dir, "big.json")
	must(t, os.WriteFile(bigger, []byte(strings.Replace(busyboxManifest, `"contents": [`,
		`"contents": [{"target": "/big", "text": "`+strings.Repeat("x", 4096)+`"},`, 1)), 0o644))
	big := filepath.Join(dir, "big.efi")
	buildUKI(t, big, "-m", bigger, "--cmdline", "x", "-c", "none")
	r := run(t, nil, "diff", "--fail-over", "1K", efi, big)
	if r.code != 1 || !strings.Contains(r.stdout, "/big") {
		t.Errorf("diff --fail-over 1K of a UKI whose initrd grew by 4K: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
