package compressors

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultSegmentSize is the segment size NewSegmentedWriter uses when none
// is given. At 8 MiB a segment spans a whole zstd window, so that cutting
// costs little size (doc/performance.md measures it), while a 100 MB
// image still gives a dozen segments to share among the cores.
const DefaultSegmentSize = 8 << 20

// SegmentOptions tune NewSegmentedWriter.
type SegmentOptions struct {
	// Size is the number of uncompressed bytes after which a segment ends
	// at the next entry boundary (0: DefaultSegmentSize). The output depends
	// on it, so it is a fixed number and never derived from the machine.
	Size int
	// Jobs is the number of segments compressed at once (0: GOMAXPROCS;
	// at most MaxJobs). The output does not depend on it.
	Jobs int
}

// MaxJobs is the most jobs that are worth running: four per CPU, to cover
// waiting on disks and pipes, and no more than 256. Every job holds
// buffers and an encoder, so an unbounded number runs out of memory.
func MaxJobs() int { return min(4*runtime.NumCPU(), 256) }

// chunkSize is the unit in which input travels from the writer to the
// segment workers, and the size of the reads ReadFrom makes: large enough
// for few system calls, small enough that the chunks held beyond the
// half segment each extra job needs (see NewSegmentedWriter) stay small.
const chunkSize = 256 << 10

// concatenator is implemented by compressors whose streams may follow each
// other in an initramfs.
type concatenator interface{ concatenable() bool }

// NewSegmentedWriter returns a writer that compresses a cpio archive into
// w as a sequence of independent compressed streams (gzip members, zstd
// frames, xz streams), each ending on an entry boundary, which the kernel
// unpacks one after the other. It compresses up to opts.Jobs segments at
// once and writes them in order, so the output is the same for any number
// of jobs.
//
// The returned writer's EntryBoundary method (cpiogen.BoundaryMarker) must
// be called after each complete entry, as cpiogen.Writer does: a segment
// ends at the first boundary after it reaches opts.Size bytes. An entry
// larger than that makes a larger segment, which is streamed through its
// worker rather than held in memory. Memory stays bounded whatever the
// size of the input: (Jobs-1)/2 segments plus 2×Jobs chunks of 256 KiB of
// input in flight, the output of up to Jobs+1 segments not yet written (the
// Jobs that wait for their turn hold a quarter of opts.Size each on
// average, Jobs quarters in all, and a worker that would pass that
// stalls), and Jobs encoders, reused from segment to segment where the
// format allows.
//
// Formats that cannot be cut are written as one stream: lz4 (the kernel
// reads nothing after an lz4 stream; its writer compresses opts.Jobs
// blocks at once instead), none, and "cmd:" external commands.
// Close finishes the last segment, waits for every worker and returns the
// first error; it does not close w.
func NewSegmentedWriter(w io.Writer, c Compressor, opts SegmentOptions) (io.WriteCloser, error) {
	opts, err := opts.check(w)
	if err != nil {
		return nil, err
	}
	if zw, ok, err := oneStream(w, c, opts.Jobs); ok {
		return zw, err
	}
	perSegment := (opts.Size + chunkSize - 1) / chunkSize
	// Half a segment of input per extra job: the reader fills one segment
	// at a time, so while it fills the newest, each older one still being
	// compressed holds its unread rest; workers settle half a segment
	// apart, and less input than this leaves one idle. Two chunks per job
	// more cover the chunk each worker and the reader hold.
	chunks := (opts.Jobs-1)*perSegment/2 + 2*opts.Jobs
	sw := &segWriter{
		// A quarter segment of output for each segment that can wait
		// for its turn (all but the oldest of Jobs+1): segments start in
		// order and half a segment apart, so the one before is nearly
		// always written first.
		pipeline: newPipeline(w, c, opts.Jobs, opts.Jobs*max(opts.Size/4, chunkSize)),
		size:     int64(opts.Size),
		free:     make(chan []byte, chunks),
		inCap:    perSegment + 1,
	}
	for range cap(sw.free) {
		sw.free <- nil // allocated on first use
	}
	return sw, nil
}

// check validates opts and fills in the defaults.
func (opts SegmentOptions) check(w io.Writer) (SegmentOptions, error) {
	if w == nil {
		return opts, errors.New("compressors: segmented writer with a nil writer")
	}
	if opts.Size < 0 {
		return opts, fmt.Errorf("compressors: segment size %d: must be 0 (default) or more", opts.Size)
	}
	if opts.Jobs < 0 {
		return opts, fmt.Errorf("compressors: %d jobs: must be 0 (default) or more", opts.Jobs)
	}
	if opts.Size == 0 {
		opts.Size = DefaultSegmentSize
	}
	if opts.Jobs == 0 {
		opts.Jobs = runtime.GOMAXPROCS(0)
	}
	opts.Jobs = min(opts.Jobs, MaxJobs())
	return opts, nil
}

// oneStream returns the writer of a format that cannot be cut into
// segments, and false for one that can. A built-in one may use jobs
// goroutines within its stream (lz4's blocks).
func oneStream(w io.Writer, c Compressor, jobs int) (io.WriteCloser, bool, error) {
	if cc, ok := c.(concatenator); ok && cc.concatenable() {
		return nil, false, nil
	}
	if b, ok := c.(*builtin); ok {
		zw, err := b.newWriterJobs(w, jobs)
		return zw, true, err
	}
	zw, err := c.NewWriter(w)
	return zw, true, err
}

// Segmented reports whether c's output is cut into segments, independent
// streams that follow each other: gzip, zstd and xz, built-in or run as
// their tools. Only such a compressor's segments can be written apart
// (see Part).
func Segmented(c Compressor) bool {
	cc, ok := c.(concatenator)
	return ok && cc.concatenable()
}

// WriteSegments compresses an archive that its caller has already cut
// into n segments (n >= 1), each ending on an entry boundary: fill(i, zw)
// writes segment i's bytes to zw. It is WriteParts with every segment
// compressed.
func WriteSegments(w io.Writer, c Compressor, opts SegmentOptions, n int, fill func(i int, zw io.Writer) error) error {
	return WriteParts(w, c, opts, n, func(i int, p *Part) error {
		zw, err := p.Compress(nil)
		if err != nil {
			return err
		}
		return fill(i, zw)
	})
}

// WriteParts writes an archive that its caller has already cut into n
// segments (n >= 1), each ending on an entry boundary: fill(i, p) writes
// segment i through p, compressed or as it is (see Part). Each segment
// is filled in a worker of its own, up to opts.Jobs at once, so that
// reading the input is as parallel as compressing it; the segments are
// written to w in order, and the output does not depend on opts.Jobs.
// Half of opts.Size bounds the output that finished segments may hold,
// in all, while an earlier one is still being compressed.
//
// A format that cannot be cut (see Segmented) gets the segments in one
// stream, filled in order by the calling goroutine. WriteParts returns
// the error of the earliest failing segment; once one fails, the
// segments not yet started are not filled.
func WriteParts(w io.Writer, c Compressor, opts SegmentOptions, n int, fill func(i int, p *Part) error) error {
	opts, err := opts.check(w)
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("compressors: %d segments: want at least 1", n)
	}
	if zw, ok, err := oneStream(w, c, opts.Jobs); ok {
		if err != nil {
			return err
		}
		for i := range n {
			if err := fill(i, &Part{stream: zw}); err != nil {
				zw.Close()
				return err
			}
		}
		return zw.Close()
	}
	// Segments start together here rather than half a segment apart, so
	// the one after the oldest often finishes first: half a segment of
	// output may wait in all, about a whole compressed segment. A smaller
	// cap stalls workers that could run; a cap per segment rather than in
	// all lets several segments of incompressible data wait at once.
	p := newPipeline(w, c, opts.Jobs, max(opts.Size/2, chunkSize))
	errs := make([]error, n)
	for i := range n {
		if p.firstErr() != nil {
			break
		}
		turn, done := p.begin()
		go p.compress(turn, done, func(s *Part) error {
			errs[i] = fill(i, s)
			return errs[i]
		})
	}
	err = p.wait()
	for _, e := range errs {
		if e != nil {
			return e // the earliest segment's own error
		}
	}
	return err
}

// ErrOneStream is the error of writing a segment apart (Part.Raw, or
// Part.Compress with a tee) with a compressor that is not Segmented.
var ErrOneStream = errors.New("compressors: the format is one stream, whose segments cannot be written apart")

// Part is where WriteParts' fill writes one segment, either compressed,
// through Compress, or as it is, through Raw: a segment compressed
// before, or one the kernel takes uncompressed. A segment is written one
// way only.
type Part struct {
	p      *pipeline
	out    *orderedWriter
	zw     io.WriteCloser // the encoder, once Compress made it
	stream io.Writer      // the one stream of a format that is not Segmented
	used   bool
	closed bool
	err    error
}

// Compress returns the writer that compresses the segment into the
// output. The compressed bytes also go to tee, when it is not nil, as
// they are made: to keep them. tee must not fail.
func (s *Part) Compress(tee io.Writer) (io.Writer, error) {
	return s.CompressCode(NoCode, tee)
}

// CompressCode is Compress for a segment that mostly holds code: with
// the compressor's filter for that code, when it has one (see ForCode).
func (s *Part) CompressCode(code Code, tee io.Writer) (io.Writer, error) {
	if err := s.use(); err != nil {
		return nil, err
	}
	if s.stream != nil {
		if tee != nil {
			return nil, ErrOneStream
		}
		return s.stream, nil
	}
	var dst io.Writer = s.out
	if tee != nil {
		dst = io.MultiWriter(s.out, tee)
	}
	var zw io.WriteCloser
	var err error
	if c, filtered := ForCode(s.p.c, code); filtered {
		zw, err = c.NewWriter(dst)
	} else {
		zw, err = s.p.encoder(dst)
	}
	if err != nil {
		return nil, err
	}
	s.zw = zw
	return zw, nil
}

// Raw returns the writer of the segment's bytes as they are, preceded in
// the output by the zeros that start them at a multiple of align bytes
// from the start of w (0 or 1: no zeros). The kernel finds an
// uncompressed archive only at a multiple of 4 bytes, which the start
// of w must then be.
func (s *Part) Raw(align int) (io.Writer, error) {
	if err := s.use(); err != nil {
		return nil, err
	}
	if s.stream != nil {
		return nil, ErrOneStream
	}
	s.out.align = int64(max(align, 1))
	return s.out, nil
}

func (s *Part) use() error {
	if s.used || s.closed {
		return errors.New("compressors: a segment is written once")
	}
	s.used = true
	return nil
}

// Close finishes the segment's compressed stream and returns the first
// error of compressing it or of writing the output. WriteParts closes
// every segment once fill returns; fill closes it itself to know, before
// it returns, that the segment is complete.
func (s *Part) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.stream != nil {
		return nil
	}
	if s.zw != nil {
		s.err = s.zw.Close()
		if _, ok := s.zw.(resetter); ok && s.err == nil && s.out.err == nil {
			s.p.encs <- s.zw // never blocks: at most Jobs encoders are out
		}
	}
	if s.out.err != nil {
		// The destination's error, not the tool's "broken pipe".
		s.err = s.out.err
	}
	return s.err
}

// pipeline compresses segments concurrently and writes them in order. It
// is what NewSegmentedWriter, which cuts a stream into segments, and
// WriteSegments, whose caller cuts, have in common.
type pipeline struct {
	c       Compressor
	dst     io.Writer
	written int64               // bytes written to dst, by one segment at a time (in turn)
	outCap  int64               // output the workers may hold, in all, before their turn
	held    atomic.Int64        // output held now
	compute chan struct{}       // slots for segments being compressed
	live    chan struct{}       // slots for segments not yet written
	chunks  chunkPool           // buffers for output waiting for its turn
	encs    chan io.WriteCloser // finished encoders that can be Reset

	prevDone chan struct{} // closed when the last begun segment is written

	mu  sync.Mutex
	err error // the first error of any goroutine
}

func newPipeline(w io.Writer, c Compressor, jobs, outCap int) *pipeline {
	p := &pipeline{
		c:       c,
		dst:     w,
		outCap:  int64(outCap),
		compute: make(chan struct{}, jobs),
		live:    make(chan struct{}, jobs+1),
		// As many chunks as the budget holds, kept between segments: a
		// sync.Pool would drop them at each collection and allocate anew.
		chunks:   make(chunkPool, outCap/chunkSize+1),
		encs:     make(chan io.WriteCloser, jobs),
		prevDone: make(chan struct{}),
	}
	close(p.prevDone)
	return p
}

func (p *pipeline) setErr(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *pipeline) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// begin takes the slots of the next segment. Slots are taken in segment
// order, so the oldest unwritten segment always has one and the pipeline
// cannot stall. It returns the channel closed once every earlier segment
// is written, and the one to close once this one is.
func (p *pipeline) begin() (turn <-chan struct{}, done chan struct{}) {
	p.live <- struct{}{}
	p.compute <- struct{}{}
	turn, done = p.prevDone, make(chan struct{})
	p.prevDone = done
	return turn, done
}

// wait waits for every begun segment to be written and returns the first
// error.
func (p *pipeline) wait() error {
	<-p.prevDone
	return p.firstErr()
}

// resetter is an encoder that can start a new stream on another writer,
// keeping its allocations: klauspost's zstd and gzip writers are.
type resetter interface{ Reset(io.Writer) }

// compress is a segment's worker: feed writes the segment through a
// Part, whose output waits in a buffer, or goes straight into the
// destination once it is the segment's turn. feed must return the first
// error it met.
func (p *pipeline) compress(turn <-chan struct{}, done chan struct{}, feed func(*Part) error) {
	defer func() { <-p.live }()
	defer close(done)
	s := &Part{p: p, out: &orderedWriter{dst: p.dst, written: &p.written, turn: turn, limit: p.outCap, held: &p.held, pool: p.chunks, align: 1}}
	err := feed(s)
	if cerr := s.Close(); err == nil || s.out.err != nil {
		err = cerr
	}
	<-p.compute
	<-turn
	if err == nil && p.firstErr() == nil {
		err = s.out.finish()
	}
	if err != nil {
		p.setErr(err)
	}
}

// errWriter fails every write with err.
type errWriter struct{ err error }

func (f errWriter) Write([]byte) (int, error) { return 0, f.err }

// encoder returns a reset encoder from the pool, or a new one.
func (p *pipeline) encoder(out io.Writer) (io.WriteCloser, error) {
	select {
	case zw := <-p.encs:
		zw.(resetter).Reset(out)
		return zw, nil
	default:
		return p.c.NewWriter(out)
	}
}

// segWriter is the writer NewSegmentedWriter returns. One goroutine (the
// caller's) fills segments chunk by chunk; each segment has a worker
// goroutine that compresses it, then waits for its predecessor to be
// written before writing its own output.
type segWriter struct {
	*pipeline
	size  int64       // the segment size target
	inCap int         // chunks queued per segment
	free  chan []byte // chunk buffers; bounds the input in flight

	cur     *segment // the segment being filled, or nil
	chunk   []byte   // the chunk being filled, or nil
	started bool     // some segment was started
	closed  bool
}

// segment is one independently compressed stream.
type segment struct {
	in chan []byte // chunks of input; closed at the segment's end
	n  int64       // bytes of input so far
}

// Write adds p to the current segment.
func (w *segWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("compressors: write after close")
	}
	if err := w.firstErr(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		w.fill()
		k := copy(w.chunk[len(w.chunk):cap(w.chunk)], p)
		w.chunk = w.chunk[:len(w.chunk)+k]
		w.cur.n += int64(k)
		p, n = p[k:], n+k
		w.sendFull()
	}
	return n, nil
}

// ReadFrom reads r into the segment's chunk buffers directly, in reads of
// up to a chunk: a file's data is read once, in large sequential reads,
// while the workers compress what came before.
func (w *segWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.closed {
		return 0, errors.New("compressors: write after close")
	}
	var n int64
	for {
		if err := w.firstErr(); err != nil {
			return n, err
		}
		w.fill()
		k, err := r.Read(w.chunk[len(w.chunk):cap(w.chunk)])
		w.chunk = w.chunk[:len(w.chunk)+k]
		w.cur.n += int64(k)
		n += int64(k)
		w.sendFull()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// fill makes sure there is a segment and a chunk with room in it.
func (w *segWriter) fill() {
	if w.cur == nil {
		w.start()
	}
	if w.chunk == nil {
		w.chunk = <-w.free
		if w.chunk == nil {
			w.chunk = make([]byte, 0, chunkSize)
		}
	}
}

// sendFull hands a full chunk to the segment's worker.
func (w *segWriter) sendFull() {
	if len(w.chunk) == cap(w.chunk) {
		w.cur.in <- w.chunk
		w.chunk = nil
	}
}

// EntryBoundary ends the current segment once it has reached the target
// size. It implements cpiogen.BoundaryMarker.
func (w *segWriter) EntryBoundary() error {
	if err := w.firstErr(); err != nil {
		return err
	}
	if w.cur != nil && w.cur.n >= w.size {
		w.end()
	}
	return nil
}

// start begins a segment and its worker.
func (w *segWriter) start() {
	turn, done := w.begin()
	s := &segment{in: make(chan []byte, w.inCap)}
	w.cur, w.started = s, true
	go w.compress(turn, done, func(p *Part) error {
		zw, err := p.Compress(nil)
		if err != nil {
			zw = errWriter{err}
		}
		for chunk := range s.in {
			if err == nil {
				_, err = zw.Write(chunk)
			}
			w.free <- chunk[:0] // even after an error: the reader waits for it
		}
		return err
	})
}

// end sends the partial chunk and closes the segment's input.
func (w *segWriter) end() {
	if w.chunk != nil && len(w.chunk) > 0 {
		w.cur.in <- w.chunk
		w.chunk = nil
	}
	close(w.cur.in)
	w.cur = nil
}

// Close ends the last segment (starting an empty one if nothing was
// written, so that the output is a valid empty stream), waits for every
// segment to be written, and returns the first error.
func (w *segWriter) Close() error {
	if w.closed {
		return w.firstErr()
	}
	w.closed = true
	if !w.started {
		w.start()
	}
	if w.cur != nil {
		w.end()
	}
	return w.wait()
}

// orderedWriter holds a segment's compressed output until every earlier
// segment is written (turn is closed), then writes straight through. When
// the output held by all segments would pass limit, Write blocks until
// the turn comes: that stalls this segment's worker, never the oldest
// segment's, which holds nothing. The output waits in chunks taken from
// pool as it comes, so a segment holds only what it has written.
type orderedWriter struct {
	dst     io.Writer
	written *int64 // bytes written to dst before, and by, this segment
	align   int64  // the output starts at a multiple of it in dst
	turn    <-chan struct{}
	limit   int64
	held    *atomic.Int64 // bytes held by all the pipeline's segments
	pool    chunkPool
	chunks  []*[chunkSize]byte
	n       int // bytes held by this one
	direct  bool
	err     error
}

func (o *orderedWriter) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if !o.direct {
		select {
		case <-o.turn:
			o.goDirect()
		default:
			if o.held.Add(int64(len(p))) <= o.limit {
				o.hold(p)
				return len(p), nil
			}
			o.held.Add(-int64(len(p)))
			<-o.turn
			o.goDirect()
		}
		if o.err != nil {
			return 0, o.err
		}
	}
	o.pad()
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	o.err = err
	return n, err
}

// write writes p to dst, counting it.
func (o *orderedWriter) write(p []byte) (int, error) {
	n, err := o.dst.Write(p)
	*o.written += int64(n)
	return n, err
}

// pad writes the zeros that align the output's start, before its first
// byte. Only the segment whose turn it is writes to dst, so the count of
// bytes written is where the output starts.
func (o *orderedWriter) pad() {
	if o.align <= 1 || o.err != nil {
		return
	}
	if k := (o.align - *o.written%o.align) % o.align; k > 0 {
		_, o.err = o.write(make([]byte, k))
	}
	o.align = 1
}

// chunkPool is a bounded free list of output chunks.
type chunkPool chan *[chunkSize]byte

func (c chunkPool) get() *[chunkSize]byte {
	select {
	case b := <-c:
		return b
	default:
		return new([chunkSize]byte)
	}
}

func (c chunkPool) put(b *[chunkSize]byte) {
	select {
	case c <- b:
	default:
	}
}

// hold copies p into the held chunks.
func (o *orderedWriter) hold(p []byte) {
	for len(p) > 0 {
		off := o.n % chunkSize
		if off == 0 {
			o.chunks = append(o.chunks, o.pool.get())
		}
		k := copy(o.chunks[len(o.chunks)-1][off:], p)
		o.n += k
		p = p[k:]
	}
}

// goDirect writes what was held; from now on writes go straight to dst.
func (o *orderedWriter) goDirect() {
	o.direct = true
	if o.n > 0 {
		o.pad()
	}
	for i, c := range o.chunks {
		if o.err == nil {
			_, o.err = o.write(c[:min(chunkSize, o.n-i*chunkSize)])
		}
		o.pool.put(c)
	}
	o.held.Add(-int64(o.n))
	o.chunks, o.n = nil, 0
}

// finish waits for the turn and writes what is still held.
func (o *orderedWriter) finish() error {
	if !o.direct {
		<-o.turn
		o.goDirect()
	}
	return o.err
}

// ParseSize reads a segment size: a positive number of bytes with an
// optional binary suffix K, M or G (or KiB, MiB, GiB), such as "8M" or
// "65536".
func ParseSize(s string) (int, error) {
	num := strings.TrimRight(s, "KMGiB")
	var shift uint
	switch s[len(num):] {
	case "":
	case "K", "KiB":
		shift = 10
	case "M", "MiB":
		shift = 20
	case "G", "GiB":
		shift = 30
	default:
		num = "" // an unknown suffix
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > (1<<31-1)>>shift {
		return 0, fmt.Errorf("%q: want a size such as 8M, 512K or 65536 (less than 2G)", s)
	}
	return n << shift, nil
}
