package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/atomicfile"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/sink"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// specCommand builds an archive from a spec in the input format of the
// kernel's usr/gen_init_cpio.
func specCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("spec", "FILE -o OUT [-t EPOCH] [--checksum] [-a ALIGN] [-c NAME]", stderr)
	var job specJob
	fl.StringVarP(&job.output, "output", "o", "", "write the archive to `OUT` (- for standard output)")
	epoch := fl.StringP("timestamp", "t", "", "mtime of every entry, in seconds (default: $SOURCE_DATE_EPOCH, else 0)")
	// No -c: it means --compress here as in every other command, although
	// gen_init_cpio's -c is the checksum format.
	fl.BoolVar(&job.check, "checksum", false, "write newc records with data checksums (070702; gen_init_cpio's -c)")
	fl.IntVarP(&job.align, "align", "a", 0, "pad names so that file data larger than `ALIGN` bytes starts at a multiple of it (a power of two)")
	fl.BoolVar(&job.opt.FileMTimes, "file-mtimes", false, "files keep their own mtime, as gen_init_cpio does; -t then applies to the other entries")
	compress := fl.StringP("compress", "c", "none", compressorHelp(compressors.Names(), ""))
	level := fl.String("level", "", "compression `LEVEL`: a number, or max (default: the compressor's)")
	rest, code, done := parseSub(fl, args, 1, stderr)
	if done {
		return code
	}
	if err := job.setup(*epoch, *compress, *level); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return exitUsage
	}
	err := job.run(rest[0], stdin, stdout)
	var se stoppedError
	switch {
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return se.exitCode()
	case err != nil:
		return failed(fl, stderr, err)
	}
	return exitOK
}

// specJob is what spec is asked to do.
type specJob struct {
	output       string
	check        bool
	align        int
	comp         compressors.Compressor
	opt          cpiogen.SpecWriteOptions
	specInfo     os.FileInfo        // the spec file, when it is one
	outputTarget *atomicfile.Target // nil for standard output
}

// setup checks the flags; its errors are usage errors.
func (j *specJob) setup(epoch, compress, levelFlag string) error {
	if j.output == "" {
		return errors.New("-o OUT is required")
	}
	if j.align != 0 && (j.align < 4 || j.align&(j.align-1) != 0) {
		return fmt.Errorf("-a %d: the alignment must be a power of two, 4 or more", j.align)
	}
	mtime, err := parseEpoch("-t", epoch)
	if err != nil {
		return err
	}
	j.opt.MTime = mtime
	level, err := compressors.ParseLevel(levelFlag)
	if err != nil {
		return fmt.Errorf("--level: %w", err)
	}
	j.comp, err = compressors.Lookup(compress, level)
	return err
}

// run reads the spec and writes its archive, following the output rules:
// neither the spec nor a file it names may be the output.
func (j *specJob) run(spec string, stdin io.Reader, stdout io.Writer) error {
	entries, err := j.readSpec(spec, stdin)
	if err != nil {
		return err
	}
	if j.output != "-" {
		if j.outputTarget, err = atomicfile.Resolve(j.output); err != nil {
			return err
		}
		if t := j.outputTarget; j.specInfo != nil && t.Info != nil && os.SameFile(j.specInfo, t.Info) {
			return fmt.Errorf("%s: is the spec: %w", j.output, mkinitrd.ErrInputIsOutput)
		}
	}
	// Spec locations are host paths, relative ones to the working
	// directory, as for gen_init_cpio; they are still read through a
	// rootfs.FS, rooted at /.
	host, err := rootfs.New("/")
	if err != nil {
		return err
	}
	defer host.Close()
	if j.opt.Open, err = specOpener(host, j.outputTarget); err != nil {
		return err
	}
	return writeTo(j.output, stdout, func(ctx context.Context, w io.Writer) error {
		return writeSpecArchive(w, compressors.WithContext(j.comp, ctx), entries, j.opt,
			cpiogen.WithChecksum(j.check), cpiogen.WithDataAlign(j.align))
	})
}

// readSpec parses the spec file ("-": standard input) and notes what
// file it is, when it is one, so that no output replaces it.
func (j *specJob) readSpec(name string, stdin io.Reader) ([]cpiogen.SpecEntry, error) {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			j.specInfo = fi
		}
	}
	entries, err := cpiogen.ParseSpec(in, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return entries, nil
}

// specOpener opens spec locations on the host: relative ones from the
// working directory, and never the output.
func specOpener(host *rootfs.FS, out *atomicfile.Target) (func(string) (fs.File, error), error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return func(location string) (fs.File, error) {
		if !filepath.IsAbs(location) {
			location = filepath.Join(wd, location)
		}
		f, err := host.Open(location)
		if err != nil || out == nil || out.Info == nil {
			return f, err
		}
		if fi, err := f.Stat(); err == nil && os.SameFile(fi, out.Info) {
			f.Close()
			return nil, fmt.Errorf("%s: is the output: %w", location, mkinitrd.ErrInputIsOutput)
		}
		return f, nil
	}, nil
}

// writeSpecArchive writes the archive of a spec's entries, compressed,
// to w. An error of the compressor is returned as it is, without the
// entry that was being written when it came.
func writeSpecArchive(w io.Writer, comp compressors.Compressor, entries []cpiogen.SpecEntry, opt cpiogen.SpecWriteOptions, wopts ...cpiogen.WriterOption) error {
	cw, err := comp.NewWriter(w)
	if err != nil {
		return err
	}
	s := &sink.Writer{W: cw}
	aw := cpiogen.NewWriter(s, wopts...)
	err = cpiogen.WriteSpec(aw, entries, opt)
	if err == nil {
		err = aw.Close()
	}
	if cerr := cw.Close(); err == nil {
		err = cerr
	}
	return s.Own(err)
}

// writeTo runs write on standard output ("-") or on a temporary file
// renamed over name once complete, following the output rules (see
// atomicfile). A signal stops write through its context.
func writeTo(name string, stdout io.Writer, write func(context.Context, io.Writer) error) error {
	in := watchSignals()
	defer in.stop()
	var f *atomicfile.File
	if name == "-" {
		name = ""
	} else {
		var err error
		if f, err = atomicfile.Create(name, imageMode); err != nil {
			return err
		}
		defer f.Abort()
		stdout = f
	}
	bw := bufio.NewWriterSize(stdout, 256<<10)
	err := in.run(func(ctx context.Context) error {
		if err := write(ctx, bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err == nil && f != nil {
		err = f.Commit()
	}
	return in.stopped(err, name)
}

// parseEpoch reads an mtime given by flag, else $SOURCE_DATE_EPOCH, else 0.
func parseEpoch(flag, value string) (int64, error) {
	what := flag
	if value == "" {
		value, what = os.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH"
	}
	if value == "" {
		return 0, nil
	}
	t, err := strconv.ParseInt(value, 10, 64)
	if err != nil || t < 0 || t > 0xffffffff {
		return 0, fmt.Errorf("%s %q: not a number of seconds between 0 and 4294967295", what, value)
	}
	return t, nil
}

// printSpec prints the closure of a build as a gen_init_cpio spec, with
// sources as host paths under the root: `mkinitrd-ng spec` or the
// kernel's gen_init_cpio make the same archive from it. Files whose
// content the manifest gives inline have no host path; they are left
// out with a comment and a warning.
func printSpec(cfg *config, m *resolve.Manifest, opts mkinitrd.Options, stdout, stderr io.Writer) error {
	c, err := mkinitrd.Resolve(m, opts)
	if err != nil {
		return err
	}
	fsys, err := mkinitrd.OpenRoot(m, opts) // for host paths
	if err != nil {
		return err
	}
	defer fsys.Close()
	warn(c, stderr)
	entries, skipped, err := specEntries(c, fsys)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(stdout)
	fmt.Fprintf(bw, "# gen_init_cpio spec of the initrd of %s (root %s), made by mkinitrd-ng --print-spec\n", cfg.manifest, fsys.Root())
	leftOutEarly(bw, stderr, c.Early)
	for _, e := range skipped {
		fmt.Fprintf(bw, "# left out: %s: inline content of %d bytes has no host path\n", e.Path, len(e.Data))
		fmt.Fprintf(stderr, "warning: --print-spec: %s: inline content has no host path; left out of the spec\n", e.Path)
	}
	if err := cpiogen.FormatSpec(bw, entries); err != nil {
		return err
	}
	return bw.Flush()
}

// leftOutEarly notes the early segments in the spec and warns of them: a
// spec describes one archive, and they come before it.
func leftOutEarly(spec, stderr io.Writer, early []resolve.EarlySegment) {
	for _, s := range early {
		if s.Archive != "" {
			fmt.Fprintf(spec, "# left out: prepend %s: an archive of %d bytes before the main one\n", s.Archive, s.Size)
			fmt.Fprintf(stderr, "warning: --print-spec: prepend %s: an archive before the main one; left out of the spec\n", s.Archive)
			continue
		}
		names := make([]string, len(s.Entries))
		for i, e := range s.Entries {
			names[i] = e.Path
		}
		fmt.Fprintf(spec, "# left out: an early archive before the main one: %s\n", strings.Join(names, " "))
		fmt.Fprintf(stderr, "warning: --print-spec: an early archive of %d entries comes before the main one; left out of the spec\n", len(names))
	}
}

// specEntries converts a closure to spec entries. The names of a
// hard-link group become one file line at the place of the first name,
// whose data goes on the last, as the archive writer does.
func specEntries(c *resolve.Closure, fsys *rootfs.FS) (entries []cpiogen.SpecEntry, skipped []*resolve.Entry, err error) {
	groups := map[string]int{} // HardLink -> index in entries
	for i := range c.Entries {
		e := &c.Entries[i]
		h, err := mkinitrd.Header(e, 0)
		if err != nil {
			return nil, nil, err
		}
		se := cpiogen.SpecEntry{Header: *h}
		if e.Kind == resolve.File {
			if e.Source == "" {
				skipped = append(skipped, e)
				continue
			}
			if e.HardLink != "" {
				if j, ok := groups[e.HardLink]; ok {
					entries[j].Links = append(entries[j].Links, h.Name)
					continue
				}
				groups[e.HardLink] = len(entries)
			}
			se.Source = fsys.HostPath(e.Source)
		}
		entries = append(entries, se)
	}
	return entries, skipped, nil
}

// writeStats writes the --stats file of a finished build, or with
// --stats - writes the statistics to stdout.
func writeStats(cfg *config, m *resolve.Manifest, opts mkinitrd.Options, res *mkinitrd.Result, stdout io.Writer) error {
	s := inspect.NewStats(res.Closure)
	s.Output = cfg.output
	s.Compressor = res.Compressor
	s.Level = string(m.Level)
	if cfg.compress != "" || opts.Level != "" {
		s.Level = cfg.level
	}
	if s.Level == "" || s.Level == "0" {
		s.Level = "default"
	}
	s.UncompressedBytes, s.CompressedBytes = res.Uncompressed, res.Written
	s.SetTimes(res.ResolveTime, res.ArchiveTime)
	if cfg.stats == "-" {
		return writeStatsTo(stdout, s)
	}
	if err := s.WriteFile(cfg.stats); err != nil {
		return fmt.Errorf("--stats: %w", err)
	}
	return nil
}
