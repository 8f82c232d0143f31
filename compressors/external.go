package compressors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// External returns a compressor that runs argv[0] with the arguments
// argv[1:], without a shell, feeding the archive on its stdin and taking
// the compressed stream from its stdout. The program is looked up in PATH
// now, so that a missing tool is reported before any work is done.
func External(argv []string) (Compressor, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("compressor: empty external command")
	}
	argv = append([]string(nil), argv...)
	line := joinCommand(argv)
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("compressor %q: %w", line, err)
	}
	c := &external{argv: argv, path: path, line: line}
	c.ext, c.magic = knownOutput(argv)
	return c, nil
}

// external is a Compressor that runs a program.
type external struct {
	argv  []string
	path  string   // argv[0] resolved in PATH
	line  string   // argv quoted back into one line, for Name and messages
	env   []string // the program's environment; nil inherits ours
	ext   string
	magic []byte
	ctx   context.Context // stops the program; nil for never (see WithContext)
}

func (c *external) Name() string  { return CmdPrefix + c.line }
func (c *external) Ext() string   { return c.ext }
func (c *external) Magic() []byte { return bytes.Clone(c.magic) }

// String is the command line, for messages.
func (c *external) String() string { return c.line }

// withContext returns a copy of c whose programs ctx stops.
func (c *external) withContext(ctx context.Context) *external {
	cc := *c
	cc.ctx = ctx
	return &cc
}

// Errors about what a program gave back.
var (
	ErrNoOutput      = errors.New("compressors: the program wrote nothing")
	ErrUnknownOutput = errors.New("compressors: the program's output is not a compressed format the kernel unpacks, nor a newc archive")
)

// Interrupted is the cause to cancel a WithContext context with when a
// signal stops the caller: the programs get the same signal. Any other
// cause stops them with SIGTERM.
type Interrupted struct{ Signal syscall.Signal }

func (e Interrupted) Error() string { return "interrupted by " + e.Signal.String() }

// WithContext returns c bound to ctx: the programs it runs are stopped
// when ctx is done, whole process groups, so that nothing they started
// outlives them. A compressor that runs no program is returned as is.
func WithContext(c Compressor, ctx context.Context) Compressor {
	switch c := c.(type) {
	case *external:
		return c.withContext(ctx)
	case *cliEngine:
		cc := *c
		cc.external = c.external.withContext(ctx)
		return &cc
	}
	return c
}

// stopGrace is how long a stopped program has to exit after its signal
// before its process group is killed.
const stopGrace = 2 * time.Second

// NewWriter starts the program in a process group of its own, feeding it
// on a pipe. Its output is copied to w and checked when it exits (see
// cmdWriter.Close). Data already buffered in w must be flushed by the
// caller first.
func (c *external) NewWriter(w io.Writer) (io.WriteCloser, error) {
	if w == nil {
		return nil, errors.New("compressors: NewWriter with a nil writer")
	}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	cmd := exec.CommandContext(ctx, c.path, c.argv[1:]...)
	cmd.Args[0] = c.argv[0]
	cmd.Env = c.env
	// A group of its own, so that a signal reaches what it starts too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, stopSignal(ctx)) }
	cmd.WaitDelay = stopGrace
	out := &checkedOutput{w: w}
	cmd.Stdout = out
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("compressor %q: %w", c.line, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("compressor %q: cannot start: %w", c.line, err)
	}
	return &cmdWriter{line: c.line, cmd: cmd, stdin: stdin, stderr: stderr, out: out}, nil
}

// stopSignal is the signal that stops the programs of a done ctx.
func stopSignal(ctx context.Context) syscall.Signal {
	var in Interrupted
	if errors.As(context.Cause(ctx), &in) {
		return in.Signal
	}
	return syscall.SIGTERM
}

// checkedOutput passes a program's output on and keeps what is needed to
// judge it: its length and first bytes. os/exec writes it from one
// goroutine, and Wait returns after the last write.
type checkedOutput struct {
	w    io.Writer
	n    int64
	head []byte // the first DetectLen bytes
}

func (o *checkedOutput) Write(p []byte) (int, error) {
	if k := min(DetectLen-len(o.head), len(p)); k > 0 {
		o.head = append(o.head, p[:k]...)
	}
	n, err := o.w.Write(p)
	o.n += int64(n)
	return n, err
}

// check returns why the output is not an archive the kernel unpacks.
func (o *checkedOutput) check() error {
	switch {
	case o.n == 0:
		return ErrNoOutput
	case Detect(o.head) == "":
		return fmt.Errorf("%w: it starts with %q", ErrUnknownOutput, o.head)
	}
	return nil
}

// stderrTail bounds how much of a command's stderr is kept: only its last
// line goes into an error message.
const stderrTail = 4096

// cmdWriter feeds a running compressor program.
type cmdWriter struct {
	line   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	out    *checkedOutput
	done   bool
	err    error // the result of finish, returned by every later Close
}

func (w *cmdWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("compressor %q: write after close", w.line)
	}
	n, err := w.stdin.Write(p)
	if err != nil {
		// Most likely the program exited early; its status and stderr say
		// why, which a bare "broken pipe" does not.
		if ferr := w.finish(); ferr != nil {
			return n, ferr
		}
		return n, fmt.Errorf("compressor %q: exited before reading all its input: %w", w.line, err)
	}
	return n, nil
}

// Close ends the program's input, waits for it to exit, and reports a
// failure with the command, its exit status and its last line of stderr.
// A program that exits 0 must have written a compressed stream (or a
// newc archive): nothing, or bytes of no known format, is an error.
func (w *cmdWriter) Close() error {
	if w.done {
		return w.err
	}
	return w.finish()
}

func (w *cmdWriter) finish() error {
	w.done = true
	cerr := w.stdin.Close()
	err := w.cmd.Wait()
	// What the program started may still run, stopped or not: nothing
	// of its process group outlives it. The id of a group that has no
	// member left is free again only once pids wrap around, as the
	// kernel hands them out in turn.
	syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		if last := w.stderr.lastLine(); last != "" {
			w.err = fmt.Errorf("compressor %q: %s: %s", w.line, exitErr.ProcessState, last)
		} else {
			w.err = fmt.Errorf("compressor %q: %s", w.line, exitErr.ProcessState)
		}
	case err != nil: // e.g. copying the output to w failed
		w.err = fmt.Errorf("compressor %q: %w", w.line, err)
	case cerr != nil && !errors.Is(cerr, io.ErrClosedPipe):
		w.err = fmt.Errorf("compressor %q: %w", w.line, cerr)
	default:
		if err := w.out.check(); err != nil {
			w.err = fmt.Errorf("compressor %q: %w", w.line, err)
		}
	}
	return w.err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.max {
		p = p[len(p)-b.max:]
	}
	if drop := len(b.buf) + len(p) - b.max; drop > 0 {
		b.buf = b.buf[drop:]
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// lastLine returns the last non-empty line, trimmed.
func (b *tailBuffer) lastLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimRight(string(b.buf), " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// knownOutput returns the extension and magic of a known compressor
// program's output, judged from its name and the options that change the
// container format.
func knownOutput(argv []string) (ext string, magic []byte) {
	name := toolOutput(filepath.Base(argv[0]), argv[1:])
	if name == lz4Frame {
		return ".lz4", []byte(lz4FrameMagic)
	}
	f, ok := formatNamed(name)
	if !ok {
		return "", nil
	}
	return f.ext, magicBytes(f.magic)
}

// lz4Frame names the LZ4 frame format, which the kernel does not accept:
// lz4 writes it without -l. Its magic lets a caller notice that.
const (
	lz4Frame      = "lz4 frame"
	lz4FrameMagic = "\x04\x22\x4d\x18"
)

// xzToolFormat is the format xz writes with args: -F/--format picks xz
// or lzma ("alone"); "" for the others (raw).
func xzToolFormat(args []string) string {
	switch xzFormat(args) {
	case "", "auto", "xz":
		return FormatXz
	case "lzma", "alone":
		return FormatLzma
	}
	return ""
}

// lz4ToolFormat is the format lz4 writes with args: the legacy frame
// with -l, else the frame format.
func lz4ToolFormat(args []string) string {
	if hasShortFlag(args, 'l') {
		return FormatLz4
	}
	return lz4Frame
}

// xzFormat returns the value of xz's last -F/--format option.
func xzFormat(args []string) string {
	f := ""
	for i, a := range args {
		switch {
		case a == "--":
			return f
		case a == "-F" || a == "--format":
			if i+1 < len(args) {
				f = args[i+1]
			}
		case strings.HasPrefix(a, "--format="):
			f = strings.TrimPrefix(a, "--format=")
		case strings.HasPrefix(a, "-F"):
			f = strings.TrimPrefix(a, "-F")
		}
	}
	return f
}

// hasShortFlag reports whether a cluster of short options such as "-l" or
// "-9l" contains flag.
func hasShortFlag(args []string, flag byte) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.IndexByte(a[1:], flag) >= 0 {
			return true
		}
	}
	return false
}

// splitCommand splits a command line into words the way a POSIX shell
// would, without expansions: words are separated by unquoted white space;
// single quotes keep everything up to the next single quote; double quotes
// keep everything up to the next unescaped double quote, and a backslash in
// them escapes only ", \, $ and `; outside quotes a backslash escapes any
// character. Quoted empty strings are words.
func splitCommand(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("command line ends with a backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote at offset %d", i)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			start := i
			for i++; ; i++ {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated double quote at offset %d", start)
				}
				c := s[i]
				if c == '"' {
					break
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
					c = s[i]
				}
				cur.WriteByte(c)
			}
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command line")
	}
	return words, nil
}

// joinCommand quotes words so that splitCommand gives them back.
func joinCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = quoteWord(a)
	}
	return strings.Join(q, " ")
}

func quoteWord(a string) string {
	if a == "" {
		return "''"
	}
	if !strings.ContainsAny(a, " \t\r\n'\"\\$`") {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}
