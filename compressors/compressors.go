package compressors

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Compressor describes one output format. Implementations are immutable and
// safe for concurrent use.
type Compressor interface {
	// Name is the name Lookup accepts for this format: "none", "gzip",
	// "zstd", "xz", "lz4", or "cmd:<command line>".
	Name() string
	// Ext is the file name extension of the output, such as ".zst"; it is
	// "" for none and for external commands whose output is not known.
	Ext() string
	// Magic returns the leading bytes of every output stream, or nil when
	// they are not known (none, unknown external commands). The caller may
	// modify the returned slice.
	Magic() []byte
	// NewWriter returns a writer that compresses into w. Its Close finishes
	// the stream and must be called; it does not close w.
	NewWriter(w io.Writer) (io.WriteCloser, error)
}

// LevelMax is the level that asks Lookup for the smallest output the
// format can make that is known to boot, as measured: the top of the
// level range, except the pure-Go xz's 4 (see the package documentation).
// ParseLevel returns it for "max".
const LevelMax = -1

// ParseLevel parses a level as the command line and manifests write it:
// "" (the format's default, 0), a non-negative integer, or "max"
// (LevelMax). Whether the format accepts the level is Lookup's to say.
func ParseLevel(s string) (int, error) {
	switch s {
	case "", "default":
		return 0, nil
	case "max":
		return LevelMax, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("level %q: want a number, or max", s)
	}
	return n, nil
}

// CmdPrefix introduces an external command in a compressor name.
const CmdPrefix = "cmd:"

// Names lists the built-in compressor names, in a fixed order.
func Names() []string {
	return []string{"none", "gzip", "zstd", "xz", "lz4"}
}

// Lookup returns the compressor called name at the given level. Level 0
// selects the format's default and LevelMax its smallest output; other
// levels must lie in the format's range (see the package documentation). A name from CLINames runs the format's
// reference tool, which must be installed. A name starting with "cmd:" runs
// an external command, which takes no level.
func Lookup(name string, level int) (Compressor, error) {
	if line, ok := strings.CutPrefix(name, CmdPrefix); ok {
		if level != 0 {
			return nil, fmt.Errorf("compressor %q: a level does not apply to an external command; put it in the command line", name)
		}
		argv, err := splitCommand(line)
		if err != nil {
			return nil, fmt.Errorf("compressor %q: %w", name, err)
		}
		return External(argv)
	}
	if c, ok, err := lookupCLICompressor(name, level); ok {
		return c, err
	}
	s, ok := lookupSpec(name)
	if !ok {
		return nil, fmt.Errorf("unknown compressor %q (known: %s, %s, or %s<command line>)",
			name, strings.Join(Names(), ", "), strings.Join(CLINames(), ", "), CmdPrefix)
	}
	switch {
	case level == 0:
		level = s.def
	case level == LevelMax && s.max != 0:
		level = s.top
	case level < s.min || level > s.max:
		if s.max == 0 {
			return nil, fmt.Errorf("compressor %s takes no level (got %d)", name, level)
		}
		return nil, fmt.Errorf("compressor %s: level %d out of range %d-%d (0 selects the default)",
			name, level, s.min, s.max)
	}
	return &builtin{spec: s, level: level}, nil
}

// spec describes a built-in format. min..max is the valid level range and
// def the level that 0 stands for; a def outside the range (lz4's) is a
// sentinel that newWriter understands.
type spec struct {
	name, ext     string
	magic         []byte
	min, max, def int
	top           int // the level LevelMax stands for: the smallest output
	newWriter     func(w io.Writer, level int) (io.WriteCloser, error)
}

// lz4DefaultLevel stands for CCompatFast, which has no number of its own on
// the 1-9 scale.
const lz4DefaultLevel = -2

// lookupSpec returns the built-in format called name. It is a function
// rather than a table so that the package holds no mutable state.
func lookupSpec(name string) (spec, bool) {
	switch name {
	case "none":
		return spec{name: "none", newWriter: newNone}, true
	case "gzip":
		return spec{name: "gzip", ext: ".gz", magic: []byte{0x1f, 0x8b},
			min: 1, max: 9, def: 6, top: 9, newWriter: newGzip}, true
	case "zstd":
		return spec{name: "zstd", ext: ".zst", magic: []byte{0x28, 0xb5, 0x2f, 0xfd},
			min: 1, max: 22, def: 3, top: 22, newWriter: newZstd}, true
	case "xz":
		// ulikunitz/xz's hash-table matcher does worse with a larger
		// dictionary: on the benchmark's 69 MB image level 4 (256 KiB)
		// gave 19.07 MB in 5.6 s, 5 (512 KiB) 19.08 MB in 4.7 s,
		// 6 19.17 MB in 7.7 s and 9 (8 MiB) 19.40 MB in 20 s. Hence
		// the default 5 and max 4.
		return spec{name: "xz", ext: ".xz", magic: []byte{0xfd, '7', 'z', 'X', 'Z', 0x00},
			min: 1, max: 9, def: 5, top: 4, newWriter: newXz}, true
	case "lz4":
		return spec{name: "lz4", ext: ".lz4", magic: []byte{0x02, 0x21, 0x4c, 0x18},
			min: 1, max: 9, def: lz4DefaultLevel, top: 9, newWriter: newLz4}, true
	}
	return spec{}, false
}

// builtin is a Compressor backed by a Go library.
type builtin struct {
	spec
	level int
}

func (c *builtin) Name() string  { return c.name }
func (c *builtin) Ext() string   { return c.ext }
func (c *builtin) Magic() []byte { return bytes.Clone(c.magic) }

// String names the format and its effective level, for messages.
func (c *builtin) String() string {
	switch {
	case c.max == 0:
		return c.name
	case c.level == lz4DefaultLevel:
		return c.name + " (fast)"
	}
	return fmt.Sprintf("%s -%d", c.name, c.level)
}

func (c *builtin) NewWriter(w io.Writer) (io.WriteCloser, error) {
	return c.newWriterJobs(w, 0)
}

// newWriterJobs is NewWriter with the number of goroutines lz4 may use
// (0: its default); the other formats run on the calling goroutine.
func (c *builtin) newWriterJobs(w io.Writer, jobs int) (io.WriteCloser, error) {
	if w == nil {
		return nil, errors.New("compressors: NewWriter with a nil writer")
	}
	var zw io.WriteCloser
	var err error
	if c.name == "lz4" {
		zw, err = newLz4Jobs(w, c.level, jobs)
	} else {
		zw, err = c.newWriter(w, c.level)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	return zw, nil
}

// concatenable reports whether streams of the format may follow each
// other: the kernel unpacks concatenated gzip members, zstd frames and xz
// streams, but nothing after an lz4 stream, and "none" needs no segments.
func (c *builtin) concatenable() bool {
	switch c.name {
	case "gzip", "zstd", "xz":
		return true
	}
	return false
}

// nopCloser passes writes through; Close has nothing to finish.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// noneBufferSize is what "none" gathers before it writes: an archive of
// small files is mostly headers and padding of a few dozen bytes, each of
// which would otherwise cost a system call.
const noneBufferSize = 256 << 10

// newNone returns a buffered pass-through; Close flushes it.
func newNone(w io.Writer, _ int) (io.WriteCloser, error) {
	return flushCloser{bufio.NewWriterSize(w, noneBufferSize)}, nil
}

// flushCloser is a bufio.Writer whose Close flushes it. It keeps the
// Writer's ReadFrom, which reads file data straight into the buffer.
type flushCloser struct{ *bufio.Writer }

func (f flushCloser) Close() error { return f.Flush() }

func newGzip(w io.Writer, level int) (io.WriteCloser, error) {
	// No name and mtime 0, as with gzip -n, so that the output depends
	// only on the input.
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	// klauspost/compress/gzip writes the zero time.Time as a nonzero MTIME
	// (its Unix value truncated), unlike compress/gzip: set 0 explicitly.
	zw.ModTime = time.Unix(0, 0)
	return gzipWriter{zw}, nil
}

// gzipWriter keeps the header's zero MTIME across Reset, which clears it.
type gzipWriter struct{ *gzip.Writer }

// Reset starts a new member on w, as a new writer of the same level would.
func (g gzipWriter) Reset(w io.Writer) {
	g.Writer.Reset(w)
	g.ModTime = time.Unix(0, 0)
}

// zstdWindow is the largest window known to boot; the kernel's decoder
// allocates it, and --long windows above its limit fail.
const zstdWindow = 8 << 20

func newZstd(w io.Writer, level int) (io.WriteCloser, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		// After the level, which would otherwise pick the window.
		zstd.WithWindowSize(zstdWindow),
		zstd.WithEncoderCRC(true),
		// Parallelism comes from compressing segments concurrently; one
		// goroutine per writer keeps N workers on N cores.
		zstd.WithEncoderConcurrency(1),
		// Grows the history buffer as needed instead of allocating twice
		// the window up front: 8 MiB less per encoder, same output.
		zstd.WithLowerEncoderMem(true),
	)
}

// xzDictCap maps an xz level (1-9) to a dictionary size: 8 MiB at 9,
// halving at each step down, so the default 6 is 1 MiB.
func xzDictCap(level int) int { return 8 << 20 >> (9 - level) }

func newXz(w io.Writer, level int) (io.WriteCloser, error) {
	cfg := xz.WriterConfig{
		DictCap:  xzDictCap(level),
		CheckSum: xz.CRC32, // the kernel refuses CRC64 and SHA-256
		Matcher:  lzma.HashTable4,
	}
	return cfg.NewWriter(w)
}

// lz4Concurrency bounds the goroutines of one lz4 writer when the caller
// does not say; each holds two 8 MiB legacy blocks.
const lz4Concurrency = 4

func newLz4(w io.Writer, level int) (io.WriteCloser, error) { return newLz4Jobs(w, level, 0) }

// newLz4Jobs compresses up to jobs legacy blocks at once (0: GOMAXPROCS,
// at most lz4Concurrency). The blocks are independent, so the output is
// the same for any jobs.
func newLz4Jobs(w io.Writer, level, jobs int) (io.WriteCloser, error) {
	if jobs <= 0 {
		jobs = min(runtime.GOMAXPROCS(0), lz4Concurrency)
	}
	lvl := lz4.CCompatFast
	if level != lz4DefaultLevel {
		lvl = lz4.Level1 << (level - 1)
	}
	zw := lz4.NewWriter(w)
	err := zw.Apply(
		lz4.LegacyOption(true),
		lz4.CompressionLevelOption(lvl),
		lz4.ConcurrencyOption(jobs),
	)
	if err != nil {
		return nil, err
	}
	// Hide the lz4 Writer's ReadFrom: io.Copy would use it, and in the
	// legacy frame it fails ("unhandled state[writeState]").
	return struct{ io.WriteCloser }{zw}, nil
}
