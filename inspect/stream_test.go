package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
)

// endlessZeros is an input like /dev/zero after a prefix. It fails the
// reading once far more than MaxPadding zeros are read, so that a reader
// without a bound fails the test instead of spinning.
type endlessZeros struct {
	prefix []byte
	zeros  int64
}

var errReadTooFar = errors.New("read far past the padding bound")

func (z *endlessZeros) Read(p []byte) (int, error) {
	if len(z.prefix) > 0 {
		n := copy(p, z.prefix)
		z.prefix = z.prefix[n:]
		return n, nil
	}
	if z.zeros > 8*MaxPadding {
		return 0, errReadTooFar
	}
	clear(p)
	z.zeros += int64(len(p))
	return len(p), nil
}

// TestPaddingBound: zero padding is skipped up to MaxPadding bytes in a
// row, wherever the kernel allows it, and an endless run is an error.
func TestPaddingBound(t *testing.T) {
	small := archive(t, true, file{name: "a", data: "1"})
	noTrailer := archive(t, false, file{name: "a", data: "1"})
	for _, tc := range []struct {
		name string
		in   io.Reader
	}{
		{"zeros only", &endlessZeros{}},
		{"after cpio", &endlessZeros{prefix: small}},
		{"between cpio records", &endlessZeros{prefix: noTrailer}},
		{"after gzip", &endlessZeros{prefix: compress(t, "gzip", small)}},
		{"after zstd", &endlessZeros{prefix: compress(t, "zstd", small)}},
		{"after xz", &endlessZeros{prefix: compress(t, "xz", small)}},
		{"after xz x86", &endlessZeros{prefix: compress(t, "xz-x86", small)}},
		{"after lzma", &endlessZeros{prefix: compress(t, "lzma", small)}},
		{"after bzip2", &endlessZeros{prefix: compress(t, "bzip2", small)}},
		{"inside zstd", bytes.NewReader(compress(t, "zstd", cat(small, zeros(MaxPadding+1))))},
		{"inside gzip between records", bytes.NewReader(compress(t, "gzip", cat(noTrailer, zeros(MaxPadding+4), small)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.in)
			if !errors.Is(err, ErrPadding) || !strings.Contains(err.Error(), "more than 1048576 zero bytes") {
				t.Errorf("error %v, want one wrapping ErrPadding", err)
			}
		})
	}
	// Up to the bound, padding is what the kernel skips.
	for _, img := range [][]byte{
		cat(zeros(MaxPadding), noTrailer, zeros(MaxPadding), compress(t, "zstd", noTrailer), zeros(MaxPadding)),
		cat(compress(t, "gzip", noTrailer), zeros(MaxPadding), compress(t, "gzip", noTrailer)),
		compress(t, "gzip", cat(noTrailer, zeros(MaxPadding), noTrailer, zeros(MaxPadding))),
	} {
		if got, err := Read(bytes.NewReader(img)); err != nil {
			t.Errorf("padding of MaxPadding bytes: %v", err)
		} else if len(got.Entries) != 2 {
			t.Errorf("padding of MaxPadding bytes: %d entries, want 2", len(got.Entries))
		}
	}
}

// rawRecord is a newc record written by hand, for what the Writer
// refuses to write.
func rawRecord(mode uint32, name, data string) []byte {
	s := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0) + name + "\x00"
	s += strings.Repeat("\x00", (4-len(s)%4)%4) + data + strings.Repeat("\x00", (4-len(data)%4)%4)
	return []byte(s)
}

// TestRecordWithData: a directory or device record with data is named
// in the error, which says what is wrong, whatever the segment.
func TestRecordWithData(t *testing.T) {
	trailer := archive(t, true)
	for _, tc := range []struct {
		name, want string
		img        []byte
	}{
		{"directory", `"etc": a directory record carries 4 bytes of data`,
			cat(rawRecord(cpiogen.TypeDir|0o755, "etc", "junk"), trailer)},
		{"block device in gzip", `"dev/sda": a block device record carries 2 bytes of data`,
			compress(t, "gzip", cat(archive(t, false, file{name: "a", data: "1"}), rawRecord(cpiogen.TypeBlock|0o600, "dev/sda", "xx"), trailer))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.img))
			if !errors.Is(err, cpiogen.ErrFormat) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "no cpio") {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// manyEntries is an image of n files, in path order, made as it is read.
type manyEntries struct {
	n, i int
	buf  bytes.Buffer
	w    *cpiogen.Writer
	// change, if not nil, gives the data of file i.
	change func(i int) string
}

func newManyEntries(n int, change func(int) string) *manyEntries {
	m := &manyEntries{n: n, change: change}
	m.w = cpiogen.NewWriter(&m.buf)
	return m
}

func (m *manyEntries) Read(p []byte) (int, error) {
	for m.buf.Len() < len(p) && m.i <= m.n {
		if m.i == m.n {
			m.w.Close()
		} else {
			data := fmt.Sprintf("file %d\n", m.i)
			if m.change != nil {
				data = m.change(m.i)
			}
			m.w.WriteHeader(&cpiogen.Header{Name: fmt.Sprintf("d/%08d", m.i), Mode: cpiogen.TypeReg | 0o644, Size: int64(len(data))})
			io.WriteString(m.w, data)
		}
		m.i++
	}
	if m.buf.Len() == 0 {
		return 0, io.EOF
	}
	return m.buf.Read(p)
}

// peakHeap wraps a reader and samples the live heap at each Read.
type peakHeap struct {
	r    io.Reader
	peak uint64
}

func (p *peakHeap) Read(b []byte) (int, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.peak = max(p.peak, ms.HeapAlloc)
	return p.r.Read(b)
}

// TestStreamingMemory: the listings and a diff of sorted images hold
// about as much memory for 100,000 entries as for 10,000, where holding
// the entries would take some 300 bytes each.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 220,000 entries")
	}
	list := func(write func(io.Writer, *Reader) error) func(n int) uint64 {
		return func(n int) uint64 {
			p := &peakHeap{r: newManyEntries(n, nil)}
			if err := write(io.Discard, NewReader(p)); err != nil {
				t.Fatal(err)
			}
			return p.peak
		}
	}
	diff := func(n int) uint64 {
		p := &peakHeap{r: newManyEntries(n, nil)}
		changed := func(i int) string {
			if i%5000 == 0 {
				return "changed"
			}
			return fmt.Sprintf("file %d\n", i)
		}
		d, err := CompareStreams(
			func() (io.ReadCloser, error) { return io.NopCloser(p), nil },
			func() (io.ReadCloser, error) { return io.NopCloser(newManyEntries(n, changed)), nil },
			"a", "b", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Changed) != n/5000 || d.New.Entries != n {
			t.Fatalf("%d changed of %d, want %d of %d", len(d.Changed), d.New.Entries, n/5000, n)
		}
		return p.peak
	}
	for _, tc := range []struct {
		name string
		peak func(n int) uint64
	}{
		{"ls", list(WriteList)},
		{"ls -l", list(WriteLongList)},
		{"diff", diff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			small, large := tc.peak(10_000), tc.peak(100_000)
			if growth := int64(large) - int64(small); growth > 4<<20 {
				t.Errorf("peak heap %d bytes for 10,000 entries, %d for 100,000: grows by %d", small, large, growth)
			}
		})
	}
}

// TestHardLinksHeld: a name of a hard-link group whose data comes later
// is held, with what follows it, until the group is complete; entries
// keep their archive order. A group spread wider than MaxHeld entries
// needs a second reading, which only an io.ReaderAt allows.
func TestHardLinksHeld(t *testing.T) {
	between := func(n int) []file {
		fs := make([]file, n)
		for i := range fs {
			fs[i] = file{name: fmt.Sprintf("d%06d", i), typ: cpiogen.TypeDir, mode: 0o755}
		}
		return fs
	}
	group := func(fs []file) []file {
		return append(append([]file{{name: "h1", linkKey: "g", nlink: 2}}, fs...), file{name: "h2", data: "shared", linkKey: "g", nlink: 2})
	}
	near := archive(t, true, group(between(3))...)
	far := archive(t, true, group(between(MaxHeld+10))...)
	// The kernel forgets links at a trailer: two archives, two groups.
	twoArchives := cat(archive(t, true, file{name: "a1", data: "one", linkKey: "g", nlink: 2}),
		archive(t, true, file{name: "a2", data: "two", linkKey: "g", nlink: 2}))
	for _, tc := range []struct {
		name    string
		in      io.Reader
		entries int
		wantErr error
	}{
		{"near", bytes.NewReader(near), 5, nil},
		{"far, read again", bytes.NewReader(far), MaxHeld + 12, nil},
		{"far, gzip, read again", bytes.NewReader(compress(t, "gzip", far)), MaxHeld + 12, nil},
		{"far, a pipe", struct{ io.Reader }{bytes.NewReader(far)}, 0, ErrHeld},
		{"two archives", bytes.NewReader(twoArchives), 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Read(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "/h1") {
					t.Fatalf("error %v, want %v naming /h1", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			es := img.Entries
			if len(es) != tc.entries {
				t.Fatalf("%d entries, want %d", len(es), tc.entries)
			}
			if tc.name == "two archives" {
				if es[0].HardLink != "" || es[1].HardLink != "" || es[1].SHA256 != sha("two") {
					t.Errorf("one group across archives: %+v", es)
				}
				return
			}
			first, last := es[0], es[len(es)-1]
			if first.Path != "/h1" || last.Path != "/h2" || es[1].Path != "/d000000" {
				t.Errorf("order: %s, %s, ... %s", first.Path, es[1].Path, last.Path)
			}
			if first.Size != 6 || first.SHA256 != sha("shared") || first.DataSize != 0 || first.HardLink != "/h1" || last.HardLink != "/h1" {
				t.Errorf("first name %+v\nlast name %+v", first, last)
			}
		})
	}
}

// TestCompareStreamsUnsorted: an image not in path order is read again
// into memory, and the diff is the one Compare makes from whole images;
// duplicates and hard links are resolved the same way. An image that
// cannot be opened again fails the diff with the reason.
func TestCompareStreamsUnsorted(t *testing.T) {
	sorted := archive(t, true, file{name: "a", data: "1"}, file{name: "b", link: "a"}, file{name: "c", data: "old"},
		file{name: "h1", linkKey: "g", nlink: 2}, file{name: "h2", data: "x", linkKey: "g", nlink: 2})
	unsorted := archive(t, true, file{name: "c", data: "new"}, file{name: "a", data: "1"}, file{name: "h2", linkKey: "g", nlink: 2},
		file{name: "z", typ: cpiogen.TypeFIFO}, file{name: "h1", data: "y", linkKey: "g", nlink: 2}, file{name: "c", data: "newer"})
	for _, tc := range []struct {
		name     string
		old, new []byte
		opens    [2]int
	}{
		{"sorted", sorted, sorted, [2]int{1, 1}},
		{"new unsorted", sorted, unsorted, [2]int{2, 2}},
		{"old unsorted", unsorted, sorted, [2]int{2, 2}},
		{"both unsorted", unsorted, unsorted, [2]int{3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opens [2]int
			counted := func(i int, b []byte) Opener {
				return func() (io.ReadCloser, error) { opens[i]++; return opener(b)() }
			}
			got, err := CompareStreams(counted(0, tc.old), counted(1, tc.new), "old", "new", "dir", ByDir)
			if err != nil {
				t.Fatal(err)
			}
			oldImg, _ := Read(bytes.NewReader(tc.old))
			newImg, _ := Read(bytes.NewReader(tc.new))
			if want := Compare(oldImg, newImg, "old", "new", "dir", ByDir); !reflect.DeepEqual(got, want) {
				t.Errorf("CompareStreams:\n%+v\nCompare:\n%+v", got, want)
			}
			if opens != tc.opens {
				t.Errorf("opened %v times, want %v", opens, tc.opens)
			}
		})
	}
	once := func() Opener {
		used := false
		return func() (io.ReadCloser, error) {
			if used {
				return nil, errors.New("standard input cannot be read again")
			}
			used = true
			return opener(unsorted)()
		}
	}
	if _, err := CompareStreams(opener(sorted), once(), "old", "new", "", nil); err == nil || !strings.Contains(err.Error(), "cannot be read again") {
		t.Errorf("an unsorted image opened once: %v", err)
	}
}
