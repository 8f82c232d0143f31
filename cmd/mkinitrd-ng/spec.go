package main

import (
	"bufio"
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
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// specCommand builds an archive from a spec in the input format of the
// kernel's usr/gen_init_cpio.
func specCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("spec", "FILE -o OUT [-t EPOCH] [-c] [-a ALIGN] [--compress NAME]", stderr)
	output := fl.StringP("output", "o", "", "write the archive to `OUT` (- for standard output)")
	epoch := fl.StringP("timestamp", "t", "", "mtime of every entry, in seconds (default: $SOURCE_DATE_EPOCH, else 0)")
	check := fl.BoolP("checksum", "c", false, "write newc records with data checksums (070702)")
	align := fl.IntP("align", "a", 0, "pad names so that file data larger than `ALIGN` bytes starts at a multiple of it (a power of two)")
	fileMTimes := fl.Bool("file-mtimes", false, "files keep their own mtime, as gen_init_cpio does; -t then applies to the other entries")
	compress := fl.String("compress", "none", "compressor: none, gzip, zstd, xz, lz4, or 'cmd:COMMAND ARGS'")
	levelFlag := fl.String("level", "", "compression `LEVEL`: a number, or max (default: the compressor's)")
	rest, code, done := parseSub(fl, args, 1, stderr)
	if done {
		return code
	}
	usage := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return exitUsage
	}
	if *output == "" {
		return usage(errors.New("-o OUT is required"))
	}
	if *align != 0 && (*align < 4 || *align&(*align-1) != 0) {
		return usage(fmt.Errorf("-a %d: the alignment must be a power of two, 4 or more", *align))
	}
	mtime, err := parseEpoch("-t", *epoch)
	if err != nil {
		return usage(err)
	}
	level, err := compressors.ParseLevel(*levelFlag)
	if err != nil {
		return usage(fmt.Errorf("--level: %w", err))
	}
	comp, err := compressors.Lookup(*compress, level)
	if err != nil {
		return usage(err)
	}

	in := stdin
	if rest[0] != "-" {
		f, err := os.Open(rest[0])
		if err != nil {
			return failed(fl, stderr, err)
		}
		defer f.Close()
		in = f
	}
	entries, err := cpiogen.ParseSpec(in, os.Getenv)
	if err != nil {
		return failed(fl, stderr, fmt.Errorf("%s: %w", rest[0], err))
	}
	// Spec locations are host paths, relative ones to the working
	// directory, as for gen_init_cpio; they are still read through a
	// rootfs.FS, rooted at /.
	host, err := rootfs.New("/")
	if err != nil {
		return failed(fl, stderr, err)
	}
	defer host.Close()
	wd, err := os.Getwd()
	if err != nil {
		return failed(fl, stderr, err)
	}
	opt := cpiogen.SpecWriteOptions{
		MTime:      mtime,
		FileMTimes: *fileMTimes,
		Open: func(location string) (fs.File, error) {
			if !filepath.IsAbs(location) {
				location = filepath.Join(wd, location)
			}
			return host.Open(location)
		},
	}
	write := func(w io.Writer) error {
		cw, err := comp.NewWriter(w)
		if err != nil {
			return err
		}
		aw := cpiogen.NewWriter(cw, cpiogen.WithChecksum(*check), cpiogen.WithDataAlign(*align))
		err = cpiogen.WriteSpec(aw, entries, opt)
		if err == nil {
			err = aw.Close()
		}
		if cerr := cw.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("compressor %s: %w", comp.Name(), cerr)
		}
		return err
	}
	if err := writeTo(*output, stdout, stderr, write); err != nil {
		return failed(fl, stderr, err)
	}
	return exitOK
}

// writeTo runs write on standard output ("-") or on a temporary file
// renamed over name once complete.
func writeTo(name string, stdout, stderr io.Writer, write func(io.Writer) error) error {
	if name == "-" {
		bw := bufio.NewWriterSize(stdout, 256<<10)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := atomicfile.Create(name, 0o644)
	if err != nil {
		return err
	}
	stop := cleanupOnSignal(f, stderr)
	defer stop()
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Commit()
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
	for _, e := range skipped {
		fmt.Fprintf(bw, "# left out: %s: inline content of %d bytes has no host path\n", e.Path, len(e.Data))
		fmt.Fprintf(stderr, "warning: --print-spec: %s: inline content has no host path; left out of the spec\n", e.Path)
	}
	if err := cpiogen.FormatSpec(bw, entries); err != nil {
		return err
	}
	return bw.Flush()
}

// specEntries converts a closure to spec entries. The names of a
// hard-link group become one file line at the place of the first name,
// whose data goes on the last, as the archive writer does.
func specEntries(c *resolve.Closure, fsys *rootfs.FS) (entries []cpiogen.SpecEntry, skipped []*resolve.Entry, err error) {
	groups := map[string]int{} // HardLink -> index in entries
	for i := range c.Entries {
		e := &c.Entries[i]
		h := cpiogen.Header{Name: strings.TrimPrefix(e.Path, "/"), UID: e.UID, GID: e.GID,
			Linkname: e.LinkTarget, RDevMajor: e.Major, RDevMinor: e.Minor}
		mode, err := cpiogen.ModeFromFileMode(e.FileMode())
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Path, err)
		}
		h.Mode = mode
		var se cpiogen.SpecEntry
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
		se.Header = h
		entries = append(entries, se)
	}
	return entries, skipped, nil
}

// writeStats writes the --stats file of a finished build.
func writeStats(cfg *config, m *resolve.Manifest, res *mkinitrd.Result) error {
	s := inspect.NewStats(res.Closure)
	s.Output = cfg.output
	s.Compressor = res.Compressor
	s.Level = string(m.Level)
	if cfg.compress != "" {
		s.Level = cfg.level
	}
	if s.Level == "" || s.Level == "0" {
		s.Level = "default"
	}
	s.UncompressedBytes, s.CompressedBytes = res.Uncompressed, res.Written
	s.SetTimes(res.ResolveTime, res.ArchiveTime)
	if err := s.WriteFile(cfg.stats); err != nil {
		return fmt.Errorf("--stats: %w", err)
	}
	return nil
}
