package compressors

import (
	"bufio"
	"compress/bzip2"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/therootcompany/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Format names returned by Detect and accepted by NewReader.
const (
	FormatCpio  = "cpio" // uncompressed newc/odc cpio
	FormatGzip  = "gzip"
	FormatBzip2 = "bzip2"
	FormatLzma  = "lzma"
	FormatXz    = "xz"
	FormatLzo   = "lzo"
	FormatLz4   = "lz4" // the legacy frame, the only one the kernel reads
	FormatZstd  = "zstd"
)

// format is one compression format the kernel unpacks: how a stream of
// it is recognised and read, how this package writes it, and where it
// may stand in an image. Every name, magic number and property the
// package uses comes from the formats table.
type format struct {
	name  string // as Detect returns it and NewReader takes it
	magic string // the leading bytes of every stream
	ext   string // the file name extension of a stream
	// concat says the output is cut into segments, independent streams
	// that the kernel unpacks one after the other; a reader then looks
	// for another stream of the format after each. A plain archive is
	// never cut: segments would gain it nothing.
	concat bool
	// last says the kernel reads nothing after a stream of the format,
	// so it must be the image's last segment.
	last bool
	// newReader decodes the format; nil when there is no decoder here.
	newReader func(r io.Reader) (io.ReadCloser, error)

	// compressor is the name Lookup takes for the built-in writer, ""
	// when the format is only read.
	compressor string
	// newWriter is the built-in writer at level, compressing up to jobs
	// blocks at once where the format allows it in one stream (0: its
	// default).
	newWriter func(w io.Writer, level, jobs int) (io.WriteCloser, error)
	levels    levels // the built-in writer's
	// library is the module of the built-in writer, and settings every
	// option newWriter sets besides the level: both go into the
	// writer's Fingerprint, so settings changes with the options.
	library, settings string
	cli               *cliSpec // the engine that runs the format's tool; nil for none

	// tools are the programs whose output is a stream of the format;
	// toolFormat, when set, names the format their arguments select
	// instead (see knownOutput).
	tools      []string
	toolFormat func(args []string) string
}

// levels is the range of a writer's levels, min..max, with the levels
// that 0 (def) and LevelMax (top) stand for. def and top may lie outside
// the range where they are not numbered settings (lz4's fast default,
// the tuned defaults of the CLI engines); max 0 means the writer takes
// no level.
type levels struct{ min, max, def, top int }

// formats is every format, the written ones first, in the order Names
// and CLINames list them. No magic is a prefix of another, so Detect
// finds at most one.
var formats = [...]format{
	{name: FormatCpio, magic: "07070", compressor: "none",
		newReader: nopReader, newWriter: newNone},
	{name: FormatGzip, magic: "\x1f\x8b", ext: ".gz", concat: true,
		newReader: newGzipDecoder, compressor: "gzip", newWriter: newGzip,
		levels:  levels{min: 1, max: 9, def: 6, top: 9},
		library: "github.com/klauspost/compress", settings: "no name, mtime 0",
		cli:   &cliSpec{tool: "gzip", levels: levels{min: 1, max: 9, def: 6, top: 9}, args: gzipCLIArgs},
		tools: []string{"gzip", "pigz"}},
	{name: FormatZstd, magic: "\x28\xb5\x2f\xfd", ext: ".zst", concat: true,
		newReader: newZstdDecoder, compressor: "zstd", newWriter: newZstd,
		levels:  levels{min: 1, max: 22, def: 3, top: 22},
		library: "github.com/klauspost/compress", settings: "EncoderLevelFromZstd, window 8 MiB, CRC, one goroutine, lower memory",
		// At most level 19: above it (--ultra) windows exceed what the
		// kernel is known to decode.
		cli:   &cliSpec{tool: "zstd", levels: levels{min: 1, max: 19, def: 0, top: 19}, args: zstdCLIArgs},
		tools: []string{"zstd", "zstdmt"}},
	// ulikunitz/xz's hash-table matcher does worse with a larger
	// dictionary, so its smallest output comes from level 4, and level
	// 5 is as small for less time (see the package documentation).
	{name: FormatXz, magic: "\xfd7zXZ\x00", ext: ".xz", concat: true,
		newReader: newXzDecoder, compressor: "xz", newWriter: newXz,
		levels:  levels{min: 1, max: 9, def: 5, top: 4},
		library: "github.com/ulikunitz/xz", settings: "xzDictCap, CRC32, HashTable4",
		cli:   &cliSpec{tool: "xz", levels: levels{min: 1, max: 9, def: 0, top: 9}, args: xzCLIArgs, code: xzCLICodeArgs},
		tools: []string{"xz"}, toolFormat: xzToolFormat},
	{name: FormatLz4, magic: "\x02\x21\x4c\x18", ext: ".lz4", last: true,
		newReader: newLz4Decoder, compressor: "lz4", newWriter: newLz4,
		levels:  levels{min: 1, max: 9, def: lz4DefaultLevel, top: 9},
		library: "github.com/pierrec/lz4/v4", settings: "legacy frame",
		tools: []string{"lz4"}, toolFormat: lz4ToolFormat},
	{name: FormatBzip2, magic: "BZh", ext: ".bz2", concat: true,
		newReader: newBzip2Decoder, tools: []string{"bzip2", "pbzip2", "lbzip2"}},
	{name: FormatLzma, magic: "\x5d\x00\x00", ext: ".lzma", concat: true,
		newReader: newLzmaDecoder, tools: []string{"lzma"}},
	{name: FormatLzo, magic: "\x89LZO", ext: ".lzo", concat: true,
		tools: []string{"lzop"}},
}

// FormatOfName returns the compressed format whose extension ends the
// file name ("firmware.bin.zst": zstd), "" for none.
func FormatOfName(name string) string {
	for _, f := range formats {
		if f.ext != "" && strings.HasSuffix(name, f.ext) {
			return f.name
		}
	}
	return ""
}

// DetectLen is the number of leading bytes Detect needs to recognise every
// format it knows: the longest magic, xz's.
const DetectLen = 6

// formatNamed returns the format of a Detect name, or of a built-in
// compressor's name ("none" is cpio).
func formatNamed(name string) (*format, bool) {
	for i := range formats {
		if f := &formats[i]; f.name == name || f.compressor != "" && f.compressor == name {
			return f, true
		}
	}
	return nil, false
}

// writtenFormat returns the format of the built-in compressor name.
func writtenFormat(name string) (*format, bool) {
	for i := range formats {
		if f := &formats[i]; f.compressor != "" && f.compressor == name {
			return f, true
		}
	}
	return nil, false
}

// toolOutput returns the format a known compressor program writes with
// args, or "" when it is not known.
func toolOutput(program string, args []string) string {
	for i := range formats {
		f := &formats[i]
		switch {
		case !slices.Contains(f.tools, program):
		case f.toolFormat != nil:
			return f.toolFormat(args)
		default:
			return f.name
		}
	}
	return ""
}

// Names lists the built-in compressor names, in a fixed order.
func Names() []string {
	var names []string
	for _, f := range formats {
		if f.compressor != "" {
			names = append(names, f.compressor)
		}
	}
	return names
}

// CLINames lists the compressor names backed by external tools, in a fixed
// order. Each runs one tool process per segment (see NewSegmentedWriter),
// so the tools' better ratios come with the parallelism of the Go engines.
func CLINames() []string {
	var names []string
	for _, f := range formats {
		if f.cli != nil {
			names = append(names, f.compressor+CLISuffix)
		}
	}
	return names
}

// Concatenated reports whether an image may hold several streams of
// format one after the other, each unpacked in turn (gzip members, zstd
// frames, xz streams), as segmented writers make them. It is false for
// cpio, whose archives a record reader reads on through, and for lz4,
// which must be last.
func Concatenated(format string) bool {
	f, ok := formatNamed(format)
	return ok && f.concat
}

// Last reports whether the kernel reads nothing after a stream of
// format, so that it can only be an image's last segment (lz4).
func Last(format string) bool {
	f, ok := formatNamed(format)
	return ok && f.last
}

// nopReader passes a plain archive through.
func nopReader(r io.Reader) (io.ReadCloser, error) { return io.NopCloser(r), nil }

func newGzipDecoder(r io.Reader) (io.ReadCloser, error) { return newGzipReader(r) }

func newZstdDecoder(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(NewZstdFrames(bufio.NewReader(r)), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return d.IOReadCloser(), nil
}

// newXzDecoder reads xz with every filter chain the kernel reads: the
// xz-cli compressor puts the x86 BCJ filter before LZMA2 for code, which
// ulikunitz/xz cannot read. The dictionary is at most 64 MiB, that of
// xz -9.
func newXzDecoder(r io.Reader) (io.ReadCloser, error) {
	d, err := xz.NewReader(r, xz.DefaultDictMax)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(d), nil
}

func newLz4Decoder(r io.Reader) (io.ReadCloser, error) { return io.NopCloser(lz4.NewReader(r)), nil }

func newBzip2Decoder(r io.Reader) (io.ReadCloser, error) {
	return io.NopCloser(bzip2.NewReader(r)), nil
}

func newLzmaDecoder(r io.Reader) (io.ReadCloser, error) {
	d, err := lzma.NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(d), nil
}
