package compressors

import (
	"debug/elf"
	"fmt"
	"slices"
)

// Code is the machine code a segment mostly holds. A format may filter
// such code before compressing it: xz's branch/call/jump (BCJ) filter for
// x86 turns the relative addresses of calls and jumps into absolute ones,
// which repeat wherever the same function is called, so the compressor
// finds more matches. The kernel's xz decoder undoes it
// (CONFIG_XZ_DEC_X86, which x86 kernels enable).
type Code uint8

// The kinds of code a filter exists for.
const (
	NoCode  Code = iota // anything else, and code no filter here helps
	X86Code             // x86 and x86-64 executables and shared objects
	numCodes
)

// String names c, as in "x86 code".
func (c Code) String() string {
	switch c {
	case NoCode:
		return "no code"
	case X86Code:
		return "x86 code"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// CodeOf returns the Code of an ELF file's machine.
func CodeOf(m elf.Machine) Code {
	switch m {
	case elf.EM_386, elf.EM_X86_64:
		return X86Code
	}
	return NoCode
}

// FiltersCode reports whether c compresses some code with a filter, so
// that marking segments by the code they hold changes its output.
func FiltersCode(c Compressor) bool {
	ce, ok := c.(*cliEngine)
	return ok && len(ce.codes) > 0
}

// ForCode returns the compressor for a segment that mostly holds code,
// and whether it differs from c: c with its format's filter for code, or
// c itself when it has none. The two share a name and a tool; their
// command lines differ.
func ForCode(c Compressor, code Code) (Compressor, bool) {
	ce, ok := c.(*cliEngine)
	if !ok {
		return c, false
	}
	ext, ok := ce.codes[code]
	if !ok {
		return c, false
	}
	cc := *ce
	cc.external = ext.withContext(ce.ctx)
	cc.codes = nil
	return &cc, true
}

// xzCLICodeArgs returns xz's options for code at a level: the x86 BCJ
// filter, then LZMA2. At the default level the LZMA2 search is preset 1's
// over a 2 MiB dictionary: with the filter, that keeps code within 1% of
// the size the default's deeper search gives without it, in half the
// time (doc/performance.md has the figures).
func xzCLICodeArgs(level int, code Code) []string {
	if code != X86Code {
		return nil
	}
	args := xzCLIArgs(level)
	if level == 0 {
		args[len(args)-1] = "--lzma2=preset=1,dict=2MiB"
	}
	return slices.Insert(args, len(args)-1, "--x86")
}
