package mkinitrd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
	"github.com/mkinitrd-ng/mkinitrd-ng/segcache"
)

// Options tune a build. The zero value builds with the manifest's
// settings, mtime 0 and one job per core.
type Options struct {
	// Root overrides the manifest's root directory.
	Root string
	// Compressor overrides the manifest's compressor and level. Without
	// either, the build uses DefaultCompressor's.
	Compressor compressors.Compressor
	// Level overrides the manifest's compression level, for the
	// manifest's compressor: a number, "default" or "max", as
	// compressors.ParseLevel reads it. Empty keeps the manifest's.
	Level resolve.Level
	// MTime is every entry's modification time (SOURCE_DATE_EPOCH).
	MTime int64
	// Jobs bounds the concurrent work (0: GOMAXPROCS; at most
	// compressors.MaxJobs): files analysed and segments compressed at
	// once. The output does not depend on it.
	Jobs int
	// SegmentSize is the average uncompressed size of the independently
	// compressed segments of the archive (0:
	// compressors.DefaultSegmentSize), whose cuts are chosen from the
	// entries. The output depends on it.
	SegmentSize int
	// AllowMissing turns missing libraries into warnings.
	AllowMissing bool
	// KernelVersion is the kernel version whose modules are included
	// ("6.1.0-18-amd64", as uname -r prints it); empty means the newest
	// under <root>/lib/modules.
	KernelVersion string
	// Strict makes any warning an error (a *WarningsError), before
	// anything is written.
	Strict bool
	// Outputs are the existing files the caller writes the build to. A
	// source or prepend archive that is one of them (by device and inode)
	// is an error wrapping ErrInputIsOutput: the build would read what it
	// is replacing.
	Outputs []os.FileInfo
	// Cache, when set, keeps the compressed segments, and a build copies
	// those it holds instead of compressing them again: the output is
	// the same. Only segmented compressors' segments are kept (see
	// compressors.Segmented).
	Cache *segcache.Cache
	// Progress, when set, counts what Build has done, for a display
	// that reads it while Build runs.
	Progress *Progress
	// Resolved, when set, is called by Build once the closure is
	// resolved, before anything is written to w; its error stops the
	// build. A caller creates its output file there: a source directory
	// that holds the output is listed before, without the temporary file.
	Resolved func() error
}

// ErrInputIsOutput is the error of a build that would read one of its
// own outputs.
var ErrInputIsOutput = errors.New("mkinitrd: an input is an output of this build")

// WarningsError is the error of a build that Options.Strict stops: the
// warnings that are errors.
type WarningsError struct {
	Warnings []string
}

func (e *WarningsError) Error() string {
	return fmt.Sprintf("%d warnings are errors:\n\t%s", len(e.Warnings), strings.Join(e.Warnings, "\n\t"))
}

// resolveOptions are the options of the resolver.
func (o Options) resolveOptions() resolve.Options {
	return resolve.Options{Jobs: o.jobs(), AllowMissing: o.AllowMissing, KernelVersion: o.KernelVersion}
}

// jobs is Options.Jobs capped at compressors.MaxJobs.
func (o Options) jobs() int { return min(o.Jobs, compressors.MaxJobs()) }

// segmentOptions are the options of the segmented writer.
func (o Options) segmentOptions() compressors.SegmentOptions {
	size := o.SegmentSize
	if size == 0 {
		size = compressors.DefaultSegmentSize
	}
	return compressors.SegmentOptions{Size: size, Jobs: o.jobs()}
}

// Result describes a finished build.
type Result struct {
	// Closure is what the image holds. The inline data of its early
	// segments is released once they are written; their Size remains.
	Closure      *resolve.Closure
	Compressor   string
	Uncompressed int64 // bytes of the main cpio archive
	Written      int64 // bytes written to the output
	Segments     int   // segments of the main archive
	Stored       int   // of those, segments written uncompressed: files compressed already
	Copied       int   // segments copied from Options.Cache
	Unread       int   // of those, segments whose files were as the cache had seen them, and not read
	// Warnings are what went wrong while writing and was worked around:
	// a corrupt cache entry, a cache that could not be written.
	Warnings    []string
	ResolveTime time.Duration
	ArchiveTime time.Duration
}

// SelectCompressor returns the compressor a build of m with opts uses:
// Options.Compressor, else the manifest's at Options.Level or the
// manifest's level; DefaultCompressor's when neither names one.
func SelectCompressor(m *resolve.Manifest, opts Options) (compressors.Compressor, error) {
	if opts.Compressor != nil {
		return opts.Compressor, nil
	}
	switch {
	case m.Compress.Argv != nil:
		return compressors.External(m.Compress.Argv)
	case m.Compress.Name != "":
		level, origin := m.Level, "manifest: "
		if opts.Level != "" {
			level, origin = opts.Level, ""
		}
		n, err := compressors.ParseLevel(string(level))
		if err != nil {
			return nil, fmt.Errorf("%s%w", origin, err)
		}
		return compressors.Lookup(m.Compress.Name, n)
	}
	c, _, err := DefaultCompressor(m, opts)
	return c, err
}

// OpenRoot opens the tree the manifest's sources are read from.
func OpenRoot(m *resolve.Manifest, opts Options) (*rootfs.FS, error) {
	root := opts.Root
	if root == "" {
		root = m.Root
	}
	if root == "" {
		root = "/"
	}
	return rootfs.New(root)
}

// Resolve computes the closure of m, its early segments included,
// without writing anything.
func Resolve(m *resolve.Manifest, opts Options) (*resolve.Closure, error) {
	fsys, err := OpenRoot(m, opts)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	c, err := resolve.Resolve(m, fsys, opts.resolveOptions())
	early, eerr := resolveEarly(m, sources{fsys: fsys, outputs: opts.Outputs})
	if err = errors.Join(err, eerr); err != nil {
		return nil, err
	}
	c.Early = early
	return c, strict(c.Warnings, opts)
}

// Build resolves m and writes the compressed initrd to w. Nothing is
// written to w before resolution succeeds (see Options.Resolved). ctx
// stops a build between entries, and stops external compressors (see
// compressors.WithContext).
func Build(ctx context.Context, w io.Writer, m *resolve.Manifest, opts Options) (*Result, error) {
	comp, err := SelectCompressor(m, opts)
	if err != nil {
		return nil, err
	}
	fsys, err := OpenRoot(m, opts)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	start := time.Now()
	a := &archiver{src: sources{fsys: fsys, outputs: opts.Outputs}, mtime: opts.MTime, progress: opts.Progress}
	closure, err := resolve.ResolvePacked(m, fsys, opts.resolveOptions())
	early, eerr := resolveEarly(m, a.src)
	if err = errors.Join(err, eerr); err != nil {
		return nil, err
	}
	if err := strict(closure.Warnings, opts); err != nil {
		return nil, err
	}
	res := &Result{Compressor: comp.Name(), ResolveTime: time.Since(start)}
	start = time.Now()
	err = a.write(ctx, w, closure, early, comp, opts, res)
	res.ArchiveTime = time.Since(start)
	if opts.Cache != nil {
		if err := opts.Cache.Trim(); err != nil {
			res.Warnings = append(res.Warnings, "cache: "+err.Error())
		}
		res.Warnings = append(res.Warnings, opts.Cache.Warnings()...)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// write writes the image of the resolved closure and its early segments
// to w, and fills in res.
func (a *archiver) write(ctx context.Context, w io.Writer, closure *resolve.PackedClosure, early []resolve.EarlySegment,
	comp compressors.Compressor, opts Options, res *Result) error {
	keep, warning := newKeeper(opts.Cache, comp)
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	var fingerprint string
	if keep != nil {
		fingerprint = keep.fingerprint
	}
	// The entries stay packed, in the planned segments, while the
	// compressors run, and are unpacked for the Result once they are done.
	a.number(closure.Entries.All())
	segs, err := a.plan(closure.Entries.All(), planOptions{
		size: int64(opts.segmentOptions().Size), fingerprint: fingerprint, store: compressors.Segmented(comp),
		code: compressors.FiltersCode(comp)})
	if err != nil {
		return err
	}
	opts.Progress.plan(closure.Entries.Len(), segs)
	closure.Entries = nil
	if err := resolved(ctx, opts); err != nil {
		return err
	}
	counted := &countWriter{w: opts.Progress.writing(w)}
	if err := a.writeEarly(ctx, counted, early); err != nil {
		return err
	}
	releaseData(early)
	n, err := a.writeSegments(ctx, counted, segs, compressors.WithContext(comp, ctx), opts.segmentOptions(), keep)
	if err != nil {
		return err
	}
	// The compressors' buffers are garbage now: collecting them before
	// unpacking keeps the heap from growing past them.
	runtime.GC()
	res.Closure = &resolve.Closure{Entries: unpackSegments(segs), Warnings: closure.Warnings, Early: early}
	res.Uncompressed, res.Written, res.Segments = n, counted.n, len(segs)
	for _, s := range segs {
		if s.kind == stored {
			res.Stored++
		}
	}
	if keep != nil {
		res.Copied, res.Unread = int(keep.copied.Load()), int(keep.unread.Load())
	}
	return nil
}

// resolved is the moment between resolving and writing: a stopped build
// ends here, and Options.Resolved runs.
func resolved(ctx context.Context, opts Options) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.Resolved != nil {
		return opts.Resolved()
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// strict fails a build with warnings when Options.Strict asks for it.
func strict(warnings []string, opts Options) error {
	if !opts.Strict || len(warnings) == 0 {
		return nil
	}
	return &WarningsError{Warnings: warnings}
}
