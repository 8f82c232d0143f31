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

// WriteSegments compresses an archive that its caller has already cut
// into n segments (n >= 1), each ending on an entry boundary: fill(i, zw)
// writes segment i's bytes to zw. Each segment is filled in a worker of
// its own, up to opts.Jobs at once, so that reading the input is as
// parallel as compressing it; the segments are written to w in order, as
// independent streams, and the output does not depend on opts.Jobs. Half
// of opts.Size bounds the output that finished segments may hold, in all,
// while an earlier one is still being compressed.
//
// A format that cannot be cut (see NewSegmentedWriter) gets the segments
// in one stream, filled in order by the calling goroutine. WriteSegments
// returns the error of the earliest failing segment; once one fails, the
// segments not yet started are not filled.
func WriteSegments(w io.Writer, c Compressor, opts SegmentOptions, n int, fill func(i int, zw io.Writer) error) error {
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
			if err := fill(i, zw); err != nil {
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
		go p.compress(turn, done, func(zw io.Writer) error {
			errs[i] = fill(i, zw)
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

// pipeline compresses segments concurrently and writes them in order. It
// is what NewSegmentedWriter, which cuts a stream into segments, and
// WriteSegments, whose caller cuts, have in common.
type pipeline struct {
	c       Compressor
	dst     io.Writer
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

// compress is a segment's worker: feed writes the segment to an encoder,
// which compresses into a buffer, or straight into the destination once
// it is the segment's turn. feed gets a writer that fails if the encoder
// could not be made, and must return the first error it met.
func (p *pipeline) compress(turn <-chan struct{}, done chan struct{}, feed func(io.Writer) error) {
	defer func() { <-p.live }()
	defer close(done)
	out := &orderedWriter{dst: p.dst, turn: turn, limit: p.outCap, held: &p.held, pool: p.chunks}
	zw, err := p.encoder(out)
	if err != nil {
		feed(errWriter{err})
	} else {
		err = feed(zw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		if out.err != nil {
			// The destination's error, not the tool's "broken pipe".
			err = out.err
		}
		if _, ok := zw.(resetter); ok && err == nil {
			p.encs <- zw // never blocks: at most Jobs encoders are out
		}
	}
	<-p.compute
	<-turn
	if err == nil && p.firstErr() == nil {
		err = out.finish()
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
	go w.compress(turn, done, func(zw io.Writer) error {
		var err error
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
	dst    io.Writer
	turn   <-chan struct{}
	limit  int64
	held   *atomic.Int64 // bytes held by all the pipeline's segments
	pool   chunkPool
	chunks []*[chunkSize]byte
	n      int // bytes held by this one
	direct bool
	err    error
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
	n, err := o.dst.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	o.err = err
	return n, err
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
	for i, c := range o.chunks {
		if o.err == nil {
			_, o.err = o.dst.Write(c[:min(chunkSize, o.n-i*chunkSize)])
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
