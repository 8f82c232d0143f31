package compressors

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// CLISuffix marks a compressor name that runs the format's reference tool
// ("zstd-cli") instead of the built-in Go encoder ("zstd").
const CLISuffix = "-cli"

// cliSpec describes a CLI engine: the tool it runs, its levels on the
// tool's own scale, and the arguments for a level (which may be def or
// top even when they lie outside min..max: xz's default and max are not
// presets).
type cliSpec struct {
	tool   string
	levels levels
	args   func(level int) []string
	// code returns the arguments for a segment of code at a level (see
	// Code), nil when they are args'; nil for a format with no filter.
	code func(level int, code Code) []string
}

// cliFormat returns the format whose CLI engine is called name.
func cliFormat(name string) (*format, bool) {
	base, ok := strings.CutSuffix(name, CLISuffix)
	if !ok {
		return nil, false
	}
	f, ok := writtenFormat(base)
	return f, ok && f.cli != nil
}

// gzipCLIArgs returns gzip's options for a level: -n writes no name and
// no mtime, so that the output depends only on the input.
func gzipCLIArgs(level int) []string {
	return []string{"-n", "-c", "-" + strconv.Itoa(level)}
}

// zstdCLIArgs returns zstd's options for a level: 1-19 are zstd's own.
// --single-thread, not -T1: -T1 runs zstd's multi-threaded engine with
// one worker, which queues input in jobs of several windows and so holds
// several times the memory for the same output. It also fixes the frame
// layout whatever ZSTD_NBTHREADS says (the environment is cleaned as
// well).
func zstdCLIArgs(level int) []string {
	args := []string{"-q", "-c", "--single-thread"}
	if level != 0 {
		return append(args, "-"+strconv.Itoa(level))
	}
	// The default is tuned rather than a level, to reach the size of a
	// single-stream zstd -10 in less time than level 9 (figures in
	// doc/performance.md): a window as large as a segment (8 MiB, as
	// zstd -19 has, which boots) and matches from 4 bytes make up for
	// level 8's shallower search.
	return append(args, "-8", "--zstd=wlog=23,mml=4,slog=3")
}

// xzCLIArgs returns xz's options for a level: 1-9 are xz's presets, with
// the dictionary capped at 8 MiB (the largest known to boot, and as large
// as a default segment, so a larger one would not help).
func xzCLIArgs(level int) []string {
	var lzma2 string
	switch level {
	case 0:
		// The default is tuned rather than a preset: a hash-chain search
		// of depth 4 over a 2 MiB dictionary takes a fraction of xz -6's
		// binary-tree search for little more size (figures in
		// doc/performance.md), and a smaller dictionary needs less
		// memory in the kernel's decoder.
		lzma2 = "preset=5,mf=hc4,depth=4,dict=2MiB"
	default:
		lzma2 = fmt.Sprintf("preset=%d,dict=%s", level, xzCLIDict(level))
	}
	return []string{"-q", "-c", "-T1", "--check=crc32", "--lzma2=" + lzma2}
}

// xzCLIDict is the dictionary of xz's preset level (1-9), capped at
// 8 MiB: the largest known to boot, and as large as a default segment.
func xzCLIDict(level int) string {
	dicts := [...]string{"1MiB", "2MiB", "4MiB", "4MiB", "8MiB", "8MiB", "8MiB", "8MiB", "8MiB"}
	return dicts[level-1]
}

// cleanEnv returns the environment without the variables through which
// the tools take options, so that the output depends only on the
// compressor name and level.
func cleanEnv() []string {
	drop := [...]string{"GZIP", "ZSTD_CLEVEL", "ZSTD_NBTHREADS", "XZ_DEFAULTS", "XZ_OPT"}
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, k := range drop {
			if strings.HasPrefix(kv, k+"=") {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}

// newCLIEngine returns the CLI engine of f, called name, at level.
func newCLIEngine(f *format, name string, level int) (Compressor, error) {
	s := f.cli
	switch l := s.levels; {
	case level == 0:
		level = l.def
	case level == LevelMax:
		level = l.top
	case level < l.min || level > l.max:
		return nil, fmt.Errorf("compressor %s: level %d out of range %d-%d (0 selects the default; max the smallest output)",
			name, level, l.min, l.max)
	}
	path, err := exec.LookPath(s.tool)
	if err != nil {
		return nil, fmt.Errorf("compressor %s: %w (install %s, or use the built-in encoder, %s)",
			name, err, s.tool, f.compressor)
	}
	run := func(args []string) *external {
		argv := append([]string{s.tool}, args...)
		return &external{argv: argv, path: path, line: joinCommand(argv), env: cleanEnv(),
			ext: f.ext, magic: magicBytes(f.magic)}
	}
	c := &cliEngine{external: run(s.args(level)), name: name, level: level, concat: f.concat}
	for code := NoCode + 1; s.code != nil && code < numCodes; code++ {
		if args := s.code(level, code); args != nil {
			if c.codes == nil {
				c.codes = make(map[Code]*external)
			}
			c.codes[code] = run(args)
		}
	}
	return c, nil
}

// cliEngine is a Compressor that runs a format's reference tool; unlike a
// "cmd:" compressor its streams may be concatenated, so it is segmented.
type cliEngine struct {
	*external
	name   string
	level  int
	concat bool
	codes  map[Code]*external // the tool run for segments of code (see ForCode)
}

// Name is the name Lookup takes, such as "zstd-cli"; the level is not
// part of it, as with the built-in formats.
func (c *cliEngine) Name() string { return c.name }

// String is the command line run for each segment, for messages.
func (c *cliEngine) String() string { return c.line }

func (c *cliEngine) concatenable() bool { return c.concat }
