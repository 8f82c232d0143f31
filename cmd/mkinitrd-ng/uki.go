package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/atomicfile"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/uki"
)

// defaultStub is the EFI stub of Debian's systemd-boot-efi.
const defaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// ukiBuildFlags are the build's flags that uki takes too, for the initrd.
var ukiBuildFlags = []string{"manifest", "compress", "level", "root", "kernel-version", "source-date-epoch",
	"jobs", "segment-size", "allow-missing", "strict", "verbose"}

// ukiCommand builds an initrd and assembles it with a kernel, systemd's
// EFI stub and a command line into a unified kernel image.
func ukiCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("uki", "--manifest FILE --kernel VMLINUZ --cmdline TEXT -o OUT.efi [--sign-key KEY --sign-cert CERT] [options]", stderr)
	var j ukiJob
	fl.StringVarP(&j.cfg.output, "output", "o", "", "write the UKI to `FILE` (- for standard output)")
	fl.StringVar(&j.kernel, "kernel", "", "the kernel `VMLINUZ`: an x86 bzImage with an EFI stub")
	fl.StringVar(&j.cmdline, "cmdline", "", "the kernel command line `TEXT`, required ('' for an empty one)")
	fl.StringVar(&j.initrd, "initrd", "", "put the initrd `FILE` in as it is, instead of building one from --manifest")
	fl.StringVar(&j.osRelease, "os-release", "", "the os-release `FILE` (default: the root's /etc/os-release, else /usr/lib/os-release)")
	fl.StringVar(&j.stub, "stub", defaultStub, "systemd's EFI stub `FILE`")
	fl.StringVar(&j.signer.Key, "sign-key", "", "sign for Secure Boot with sbsign and this private `KEY` (PEM, not encrypted)")
	fl.StringVar(&j.signer.Cert, "sign-cert", "", "the certificate `CERT` of --sign-key (PEM)")
	build := newFlags(&j.cfg, stderr)
	for _, name := range ukiBuildFlags {
		fl.AddFlag(build.Lookup(name))
	}
	fl.Lookup("kernel-version").Usage = "kernel `VERSION` whose modules are included: the --kernel's, which is the default"
	if _, code, done := parseSub(fl, args, 0, stderr); done {
		return code
	}
	if err := j.setup(fl.Changed("cmdline")); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		fmt.Fprintf(stderr, "Try 'mkinitrd-ng uki --help'.\n")
		return exitUsage
	}
	err := flagged(j.run(stdin, stdout, stderr))
	var se stoppedError
	var ue usageError
	switch {
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return se.exitCode()
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return exitUsage
	case err != nil:
		return failed(fl, stderr, err)
	}
	return exitOK
}

// ukiJob is what uki is asked to do.
type ukiJob struct {
	cfg                                config // the initrd's build, and the output
	kernel, cmdline, initrd, osRelease string
	stub                               string
	signer                             uki.Signer
	inputs                             []ukiInput
	kernelFile, stubFile, initrdFile   *os.File
	osReleaseData                      []byte
}

// ukiInput is a file the UKI is made of, which the output must not be.
type ukiInput struct {
	flag string
	info os.FileInfo
}

// setup checks the flags; its errors are usage errors.
func (j *ukiJob) setup(cmdlineGiven bool) error {
	switch {
	case j.kernel == "":
		return errors.New("--kernel is required")
	case !cmdlineGiven:
		return errors.New("--cmdline is required: a UKI without a command line of its own boots with whatever command line the boot loader passes (--cmdline '' is an empty one)")
	case j.cfg.output == "":
		return errors.New("-o is required")
	case (j.cfg.manifest == "") == (j.initrd == ""):
		return errors.New("give either --manifest, to build the initrd, or --initrd")
	case (j.signer.Key == "") != (j.signer.Cert == ""):
		return errors.New("--sign-key and --sign-cert go together")
	}
	return nil
}

// run assembles the UKI, following the output rules: none of its inputs
// may be the output, nor any source of the initrd.
func (j *ukiJob) run(stdin io.Reader, stdout, stderr io.Writer) error {
	defer j.close()
	if err := j.openInputs(); err != nil {
		return err
	}
	version, err := uki.KernelVersion(j.kernelFile)
	if err != nil {
		return fmt.Errorf("--kernel %s: %w", j.kernel, err)
	}
	if v := j.cfg.kernelVersion; v != "" && v != version {
		return usageError{fmt.Errorf("--kernel-version %s: the kernel %s is %s", v, j.kernel, version)}
	}
	j.cfg.kernelVersion = version
	var m *resolve.Manifest
	if j.cfg.manifest != "" {
		var info os.FileInfo
		if m, info, err = readManifestInfo(j.cfg.manifest, stdin); err != nil {
			return err
		}
		j.inputs = append(j.inputs, ukiInput{"--manifest", info})
	}
	target, err := j.checkOutput()
	if err != nil {
		return err
	}
	return j.write(m, target, stdout, stderr, []uki.Section{uki.CmdlineSection(j.cmdline), uki.Bytes(uki.Uname, []byte(version))})
}

// openInputs opens the kernel, the stub and the files given instead of
// the root's, and checks the stub before anything is built.
func (j *ukiJob) openInputs() error {
	var err error
	for _, in := range []struct {
		flag, name string
		f          **os.File
	}{{"--kernel", j.kernel, &j.kernelFile}, {"--stub", j.stub, &j.stubFile}, {"--initrd", j.initrd, &j.initrdFile}} {
		if in.name == "" {
			continue
		}
		if *in.f, err = j.open(in.flag, in.name); err != nil {
			return err
		}
	}
	if err := uki.CheckStub(j.stubFile); err != nil {
		return fmt.Errorf("--stub %s: %w", j.stub, err)
	}
	for _, in := range []struct{ flag, name string }{{"--os-release", j.osRelease}, {"--sign-key", j.signer.Key}, {"--sign-cert", j.signer.Cert}} {
		if in.name == "" {
			continue
		}
		f, err := j.open(in.flag, in.name)
		if err != nil {
			return err
		}
		if in.flag == "--os-release" {
			j.osReleaseData, err = io.ReadAll(io.LimitReader(f, maxOSRelease))
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", in.flag, in.name, err)
		}
	}
	return nil
}

// maxOSRelease bounds an os-release file, which is a few hundred bytes.
const maxOSRelease = 64 << 10

// open opens an input file, which must be a regular file, and notes it.
func (j *ukiJob) open(flag, name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", name)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	j.inputs = append(j.inputs, ukiInput{flag, fi})
	return f, nil
}

func (j *ukiJob) close() {
	for _, f := range []*os.File{j.kernelFile, j.stubFile, j.initrdFile} {
		if f != nil {
			f.Close()
		}
	}
}

// checkOutput applies the output rules to the UKI and refuses an output
// that is one of its inputs. It returns the output's target, nil for
// standard output.
func (j *ukiJob) checkOutput() (*atomicfile.Target, error) {
	if j.cfg.output == "-" {
		return nil, nil
	}
	t, err := atomicfile.Resolve(j.cfg.output)
	if err != nil || t.Info == nil {
		return t, err
	}
	for _, in := range j.inputs {
		if in.info != nil && os.SameFile(in.info, t.Info) {
			return nil, fmt.Errorf("%s: is the %s: %w", j.cfg.output, in.flag, mkinitrd.ErrInputIsOutput)
		}
	}
	return t, nil
}

// write builds the initrd (unless one is given) and the UKI into a
// temporary file renamed over the output once complete; a signal stops
// both and removes the temporary file.
func (j *ukiJob) write(m *resolve.Manifest, target *atomicfile.Target, stdout, stderr io.Writer, sections []uki.Section) error {
	var w io.Writer = stdout
	var out *imageFile
	name := ""
	if target != nil {
		out = &imageFile{name: j.cfg.output}
		w, name = out, j.cfg.output
	}
	in := watchSignals()
	defer in.stop()
	err := in.run(func(ctx context.Context) error {
		initrd, err := j.buildInitrd(ctx, m, target, out, stderr)
		if err != nil {
			return err
		}
		defer initrd.Close()
		sections = append(sections, initrd.section)
		if sections, err = j.osReleaseSection(m, sections); err != nil {
			return err
		}
		kernel, err := fileSection(uki.Linux, j.kernelFile)
		if err != nil {
			return err
		}
		return j.assemble(ctx, w, append(sections, kernel), stderr)
	})
	if err == nil && out != nil {
		err = out.Commit()
	}
	if out != nil {
		out.Abort()
	}
	return in.stopped(err, name)
}

// builtInitrd is the initrd of a UKI: the file given, or an unlinked
// temporary file the initrd was built into.
type builtInitrd struct {
	section uki.Section
	f       *os.File // closed by Close; nil for a given file
}

func (b builtInitrd) Close() {
	if b.f != nil {
		b.f.Close()
	}
}

// fileSection is the section k holding the file f.
func fileSection(k uki.Kind, f *os.File) (uki.Section, error) {
	fi, err := f.Stat()
	if err != nil {
		return uki.Section{}, fmt.Errorf("%v: %w", k, err)
	}
	return uki.Section{Kind: k, Data: io.NewSectionReader(f, 0, fi.Size())}, nil
}

// buildInitrd builds the initrd for the kernel into a temporary file
// that is unlinked at once, so that no initrd, which may hold keys, is
// left behind. The output's temporary file is created once the closure
// is resolved, as for a build.
func (j *ukiJob) buildInitrd(ctx context.Context, m *resolve.Manifest, target *atomicfile.Target, out *imageFile, stderr io.Writer) (builtInitrd, error) {
	if j.initrdFile != nil {
		sec, err := fileSection(uki.Initrd, j.initrdFile)
		return builtInitrd{section: sec}, err
	}
	opts, err := options(&j.cfg)
	if err != nil {
		return builtInitrd{}, err
	}
	warnJobs(j.cfg.jobs, stderr)
	limitMemory(m)
	if opts.Compressor, err = mkinitrd.SelectCompressor(m, opts); err != nil {
		return builtInitrd{}, usageError{err}
	}
	if target != nil && target.Info != nil {
		opts.Outputs = append(opts.Outputs, target.Info)
	}
	if out != nil {
		opts.Resolved = out.create
	}
	f, err := os.CreateTemp("", "mkinitrd-ng-initrd-")
	if err != nil {
		return builtInitrd{}, err
	}
	os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 256<<10)
	res, err := mkinitrd.Build(ctx, bw, m, opts)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		return builtInitrd{}, err
	}
	report(&j.cfg, res, stderr)
	sec, err := fileSection(uki.Initrd, f)
	if err != nil {
		f.Close()
	}
	return builtInitrd{section: sec, f: f}, err
}

// osReleaseSection adds the .osrel section: --os-release, else the
// root's, read inside the root.
func (j *ukiJob) osReleaseSection(m *resolve.Manifest, sections []uki.Section) ([]uki.Section, error) {
	if j.osRelease != "" {
		return append(sections, uki.Bytes(uki.OSRel, j.osReleaseData)), nil
	}
	if m == nil {
		m = &resolve.Manifest{}
	}
	fsys, err := mkinitrd.OpenRoot(m, mkinitrd.Options{Root: j.cfg.root})
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	var errs []error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := fsys.ReadFile(p)
		if err == nil {
			return append(sections, uki.Bytes(uki.OSRel, data)), nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no os-release in the root %s (give --os-release): %w", fsys.Root(), errors.Join(errs...))
}

// assemble writes the UKI to w, signed when keys are given: then the
// unsigned image goes through sbsign and sbverify first.
func (j *ukiJob) assemble(ctx context.Context, w io.Writer, sections []uki.Section, stderr io.Writer) error {
	if j.cfg.verbose {
		slices.SortFunc(sections, func(a, b uki.Section) int { return cmp.Compare(a.Kind, b.Kind) })
		for _, s := range sections {
			fmt.Fprintf(stderr, "%s: %d bytes\n", s.Kind, s.Data.Size())
		}
	}
	if j.signer.Key == "" {
		_, err := uki.Write(w, j.stubFile, sections)
		return err
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		_, err := uki.Write(pw, j.stubFile, sections)
		pw.CloseWithError(err)
		written <- err
	}()
	err := j.signer.Sign(ctx, w, pr)
	pr.CloseWithError(errSignStopped) // Write stops, if Sign stopped reading
	if werr := <-written; werr != nil && !errors.Is(werr, errSignStopped) {
		return werr // the error that stopped the signing
	}
	return err
}

// errSignStopped ends the writing of an image that is not signed.
var errSignStopped = errors.New("signing stopped")
