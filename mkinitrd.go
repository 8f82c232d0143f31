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
)

// Options tune a build. The zero value builds with the manifest's
// settings, mtime 0 and one job per core.
type Options struct {
	// Root overrides the manifest's root directory.
	Root string
	// Compressor overrides the manifest's compressor.
	Compressor compressors.Compressor
	// MTime is every entry's modification time (SOURCE_DATE_EPOCH).
	MTime int64
	// Jobs bounds the concurrent work (0: GOMAXPROCS; at most
	// compressors.MaxJobs): files analysed and segments compressed at
	// once. The output does not depend on it.
	Jobs int
	// SegmentSize is the uncompressed size of the independently compressed
	// segments of the archive (0: compressors.DefaultSegmentSize). The
	// output depends on it.
	SegmentSize int
	// AllowMissing turns missing libraries into warnings.
	AllowMissing bool
	// KernelVersion is the kernel version whose modules are included
	// ("6.1.0-18-amd64", as uname -r prints it); empty means the newest
	// under <root>/lib/modules.
	KernelVersion string
	// Strict makes any warning an error, before anything is written.
	Strict bool
	// Outputs are the existing files the caller writes the build to. A
	// source or prepend archive that is one of them (by device and inode)
	// is an error wrapping ErrInputIsOutput: the build would read what it
	// is replacing.
	Outputs []os.FileInfo
	// Resolved, when set, is called by Build once the closure is
	// resolved, before anything is written to w; its error stops the
	// build. A caller creates its output file there: a source directory
	// that holds the output is listed before, without the temporary file.
	Resolved func() error
}

// ErrInputIsOutput is the error of a build that would read one of its
// own outputs.
var ErrInputIsOutput = errors.New("mkinitrd: an input is an output of this build")

// resolveOptions are the options of the resolver.
func (o Options) resolveOptions() resolve.Options {
	return resolve.Options{Jobs: min(o.Jobs, compressors.MaxJobs()), AllowMissing: o.AllowMissing, KernelVersion: o.KernelVersion}
}

// Result describes a finished build.
type Result struct {
	Closure      *resolve.Closure
	Compressor   string
	Uncompressed int64 // bytes of the cpio archive
	Written      int64 // bytes written to the output
	ResolveTime  time.Duration
	ArchiveTime  time.Duration
}

// Compressor returns the compressor the options or, failing them, the
// manifest name; "none" when neither does.
func Compressor(m *resolve.Manifest, opts Options) (compressors.Compressor, error) {
	if opts.Compressor != nil {
		return opts.Compressor, nil
	}
	switch {
	case m.Compress.Argv != nil:
		return compressors.External(m.Compress.Argv)
	case m.Compress.Name != "":
		level, err := compressors.ParseLevel(string(m.Level))
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return compressors.Lookup(m.Compress.Name, level)
	}
	return compressors.Lookup("none", 0)
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

// Resolve computes the closure of m without writing anything.
func Resolve(m *resolve.Manifest, opts Options) (*resolve.Closure, error) {
	fsys, err := OpenRoot(m, opts)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	c, err := resolve.Resolve(m, fsys, opts.resolveOptions())
	if err != nil {
		return nil, err
	}
	return c, strict(c.Warnings, opts)
}

// Build resolves m and writes the compressed initrd to w. Nothing is
// written to w before resolution succeeds (see Options.Resolved). ctx
// stops a build between entries, and stops external compressors (see
// compressors.WithContext).
func Build(ctx context.Context, m *resolve.Manifest, w io.Writer, opts Options) (*Result, error) {
	comp, err := Compressor(m, opts)
	if err != nil {
		return nil, err
	}
	comp = compressors.WithContext(comp, ctx)
	fsys, err := OpenRoot(m, opts)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	start := time.Now()
	closure, err := resolve.ResolvePacked(m, fsys, opts.resolveOptions())
	if err != nil {
		return nil, err
	}
	if err := strict(closure.Warnings, opts); err != nil {
		return nil, err
	}
	res := &Result{Compressor: comp.Name(), ResolveTime: time.Since(start)}
	start = time.Now()
	// The archive is planned piece by piece, then each compressor worker
	// writes its own piece. The entries stay packed throughout: a large
	// closure's []Entry and the compressors' buffers are then not live at
	// once (50,000 entries take 12 MB as []Entry, 0.8 MB packed).
	// The Result gets them back once the compressors are done.
	segOpts := compressors.SegmentOptions{Size: opts.SegmentSize, Jobs: min(opts.Jobs, compressors.MaxJobs())}
	if segOpts.Size == 0 {
		segOpts.Size = compressors.DefaultSegmentSize
	}
	links := hardLinks(closure.Entries.All())
	pieces, err := planPieces(closure.Entries.All(), links, opts.MTime, int64(segOpts.Size))
	if err != nil {
		return nil, err
	}
	closure.Entries = nil
	if err := resolved(ctx, opts); err != nil {
		return nil, err
	}
	counted := &countWriter{w: w}
	src := sources{fsys: fsys, outputs: opts.Outputs}
	if err := writeEarly(counted, src, m, opts.MTime); err != nil {
		return nil, err
	}
	n, err := writePieces(ctx, counted, src, pieces, links, opts.MTime, comp, segOpts)
	if err != nil {
		return nil, err
	}
	// The compressors' buffers are garbage now. Collect them before
	// unpacking: the collector runs concurrently with allocation, and a
	// quick Unpack would otherwise grow the heap past them (measured on
	// 50,000 entries with Go zstd: 51 MiB of RSS instead of 44).
	runtime.GC()
	res.Closure = &resolve.Closure{Entries: unpackPieces(pieces), Warnings: closure.Warnings}
	res.Uncompressed, res.Written, res.ArchiveTime = n, counted.n, time.Since(start)
	return res, nil
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
	return fmt.Errorf("--strict: %d warnings are errors:\n\t%s", len(warnings), strings.Join(warnings, "\n\t"))
}
