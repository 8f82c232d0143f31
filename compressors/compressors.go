package compressors

import (
	"bufio"
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
// format can make that is known to boot: the top of the
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

// Lookup returns the compressor called name at the given level. Level 0
// selects the format's default and LevelMax its smallest output; other
// levels must lie in the format's range (see the package documentation).
// A name from CLINames runs the format's reference tool, which must be
// installed. A name starting with "cmd:" runs an external command, which
// takes no level.
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
	if f, ok := cliFormat(name); ok {
		return newCLIEngine(f, name, level)
	}
	f, ok := writtenFormat(name)
	if !ok {
		return nil, fmt.Errorf("unknown compressor %q (known: %s, %s, or %s<command line>)",
			name, strings.Join(Names(), ", "), strings.Join(CLINames(), ", "), CmdPrefix)
	}
	l := f.levels
	switch {
	case level == 0:
		level = l.def
	case level == LevelMax && l.max != 0:
		level = l.top
	case level < l.min || level > l.max:
		if l.max == 0 {
			return nil, fmt.Errorf("compressor %s takes no level (got %d)", name, level)
		}
		return nil, fmt.Errorf("compressor %s: level %d out of range %d-%d (0 selects the default)",
			name, level, l.min, l.max)
	}
	return &builtin{format: f, level: level}, nil
}

// magicBytes returns a copy of magic, nil when it is not known.
func magicBytes(magic string) []byte {
	if magic == "" {
		return nil
	}
	return []byte(magic)
}

// lz4DefaultLevel stands for CCompatFast, which has no number of its own on
// the 1-9 scale.
const lz4DefaultLevel = -2

// builtin is a Compressor backed by a Go library.
type builtin struct {
	*format
	level int
}

func (c *builtin) Name() string { return c.compressor }
func (c *builtin) Ext() string  { return c.ext }

// Magic is nil for none, whose output is no compressed stream.
func (c *builtin) Magic() []byte {
	if c.name == FormatCpio {
		return nil
	}
	return magicBytes(c.magic)
}

// String names the format and its effective level, for messages.
func (c *builtin) String() string {
	switch {
	case c.levels.max == 0:
		return c.compressor
	case c.level == lz4DefaultLevel:
		return c.compressor + " (fast)"
	}
	return fmt.Sprintf("%s -%d", c.compressor, c.level)
}

func (c *builtin) NewWriter(w io.Writer) (io.WriteCloser, error) {
	return c.newWriterJobs(w, 0)
}

// newWriterJobs is NewWriter with the number of goroutines a format that
// compresses blocks in parallel within one stream (lz4) may use (0: its
// default); the other formats run on the calling goroutine.
func (c *builtin) newWriterJobs(w io.Writer, jobs int) (io.WriteCloser, error) {
	if w == nil {
		return nil, errors.New("compressors: NewWriter with a nil writer")
	}
	zw, err := c.newWriter(w, c.level, jobs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	return zw, nil
}

// concatenable reports whether the format's streams may follow each
// other, so that its output is cut into segments.
func (c *builtin) concatenable() bool { return c.concat }

// nopCloser passes writes through; Close has nothing to finish.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// noneBufferSize is what "none" gathers before it writes: an archive of
// small files is mostly headers and padding of a few dozen bytes, each of
// which would otherwise cost a system call.
const noneBufferSize = 256 << 10

// newNone returns a buffered pass-through; Close flushes it.
func newNone(w io.Writer, _, _ int) (io.WriteCloser, error) {
	return flushCloser{bufio.NewWriterSize(w, noneBufferSize)}, nil
}

// flushCloser is a bufio.Writer whose Close flushes it. It keeps the
// Writer's ReadFrom, which reads file data straight into the buffer.
type flushCloser struct{ *bufio.Writer }

func (f flushCloser) Close() error { return f.Flush() }

func newGzip(w io.Writer, level, _ int) (io.WriteCloser, error) {
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

func newZstd(w io.Writer, level, _ int) (io.WriteCloser, error) {
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
// halving at each step down, so the default 5 is 512 KiB.
func xzDictCap(level int) int { return 8 << 20 >> (9 - level) }

func newXz(w io.Writer, level, _ int) (io.WriteCloser, error) {
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

// newLz4 compresses up to jobs legacy blocks at once (0: GOMAXPROCS, at
// most lz4Concurrency). The blocks are independent, so the output is the
// same for any jobs.
func newLz4(w io.Writer, level, jobs int) (io.WriteCloser, error) {
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
