package inspect

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// xzFlags compresses data with the real xz as the kernel reads it, and
// with flags (a BCJ filter, block size or check) added.
func xzFlags(t *testing.T, flags string, data []byte) []byte {
	t.Helper()
	args := append([]string{"--check=crc32", "-c"}, strings.Fields(flags)...)
	return tool(t, data, "xz", append(args, "--lzma2=preset=1,dict=2MiB")...)
}

// machineCode is data for a BCJ filter to convert: random bytes, which
// hold every filter's branch patterns and which LZMA2 stores in chunks
// as they are, then text, which it compresses.
func machineCode(seed uint64, n int) []byte {
	rnd := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return append(b, strings.Repeat(fmt.Sprintf("text %d ", seed), n/8)...)
}

// TestXzFilters reads images whose xz streams use the BCJ filters the
// kernel reads, alone and mixed with plain LZMA2 streams, with zero
// padding between and after the streams and an uncompressed newc
// segment at a 4-byte boundary after them: every entry of both segments is listed,
// with its data, and the xz segment ends exactly after its last stream.
func TestXzFilters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string // one stream each
		pads  []int    // zero bytes after each stream
	}{
		{"x86", []string{"--x86", "--x86", "--x86"}, []int{0, 4, 512}},
		{"x86 odd padding", []string{"--x86", "--x86", "--x86"}, []int{1, 3}},
		{"plain and x86", []string{"", "--x86", "", "--x86"}, []int{4, 0, 7}},
		{"x86 blocks", []string{"--x86 --block-size=20KiB", "--x86 -T2 --block-size=20KiB"}, []int{1}},
		{"x86 checks", []string{"--x86 --check=none", "--x86 --check=crc64", "--x86 --check=sha256"}, []int{0, 2}},
		{"powerpc", []string{"--powerpc", "--powerpc"}, []int{8}},
		{"ia64", []string{"--ia64", "--ia64"}, []int{8}},
		{"arm", []string{"--arm", "--arm"}, []int{8}},
		{"armthumb", []string{"--armthumb", "--armthumb"}, []int{8}},
		{"sparc", []string{"--sparc", "--sparc"}, []int{8}},
		{"every filter", []string{"--x86", "--powerpc", "--ia64", "--arm", "--armthumb", "--sparc", ""}, []int{0, 1, 2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var img []byte
			var want []string
			var xzEnd int64 // just past the last stream
			data := map[string][]byte{}
			for i, flags := range tc.flags {
				name := fmt.Sprintf("bin/%d", i)
				data["/"+name] = machineCode(uint64(i), 48<<10)
				want = append(want, "/"+name)
				part := archive(t, i == len(tc.flags)-1, file{name: name, data: string(data["/"+name])})
				img = cat(img, xzFlags(t, flags, part))
				xzEnd = int64(len(img))
				if i < len(tc.pads) {
					img = cat(img, zeros(tc.pads[i]))
				}
			}
			img = cat(img, zeros(int(pad4(int64(len(img))))))
			cpioOff := int64(len(img))
			img = cat(img, archive(t, true, file{name: "late", data: "newc"}))
			data["/late"] = []byte("newc")
			want = append(want, "/late")

			got, err := Read(bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(paths(got.Entries), want) {
				t.Fatalf("entries %v, want %v", paths(got.Entries), want)
			}
			for _, e := range got.Entries {
				if e.SHA256 != sha(string(data[e.Path])) {
					t.Errorf("%s: data differs", e.Path)
				}
			}
			if f := got.Formats(); !reflect.DeepEqual(f, []string{"xz", "cpio"}) {
				t.Fatalf("formats %v, want xz, cpio", f)
			}
			s := got.Segments
			if s[0].Offset != 0 || s[0].Size != xzEnd || s[0].Streams != len(tc.flags) {
				t.Errorf("xz segment %+v, want offset 0, %d bytes, %d streams", s[0], xzEnd, len(tc.flags))
			}
			if s[1].Offset != cpioOff {
				t.Errorf("cpio segment at %d, want %d", s[1].Offset, cpioOff)
			}
		})
	}
}

// withDict returns an xz stream whose first block header asks for the
// LZMA2 dictionary that props names, its CRC32 made right again, as
// the header of a hostile image would.
func withDict(t *testing.T, stream []byte, props byte) []byte {
	t.Helper()
	s := bytes.Clone(stream)
	hdr := s[xzHeaderLen : xzHeaderLen+(int(s[xzHeaderLen])+1)*4]
	body := hdr[:len(hdr)-4]
	i := bytes.Index(body, []byte{0x21, 0x01}) // LZMA2, one byte of properties
	if i < 0 {
		t.Fatalf("no LZMA2 filter in block header % x", hdr)
	}
	body[i+2] = props
	binary.LittleEndian.PutUint32(hdr[len(body):], crc32.ChecksumIEEE(body))
	return s
}

// TestXzErrors: damaged and hostile xz streams, with a BCJ filter or
// without, are errors that say which stream, and a dictionary larger
// than 64 MiB is refused before it is allocated.
func TestXzErrors(t *testing.T) {
	part := archive(t, true, file{name: "a", data: string(machineCode(1, 4<<10))})
	for _, flags := range []string{"", "--x86"} {
		stream := xzFlags(t, flags, part)
		corrupt := bytes.Clone(stream)
		corrupt[len(corrupt)/2] ^= 0xff
		for _, tc := range []struct {
			name string
			img  []byte
			want string
		}{
			{"2 GiB dictionary", withDict(t, stream, 38), "xz stream 1: xz: LZMA2 dictionary size exceeds max"},
			{"128 MiB dictionary", cat(stream, withDict(t, stream, 34)), "xz stream 2: xz: LZMA2 dictionary size exceeds max"},
			{"truncated", stream[:len(stream)-5], "xz stream 1: unexpected EOF (truncated)"},
			{"truncated in the block", stream[:len(stream)/2], "xz stream 1: unexpected EOF (truncated)"},
			{"corrupt", corrupt, "xz stream 1: "},
			{"bad LZMA2 chunk", func() []byte {
				s := bytes.Clone(stream)
				s[xzHeaderLen+(int(s[xzHeaderLen])+1)*4] = 0x03
				return s
			}(), "invalid LZMA2 chunk control byte 0x03"},
		} {
			t.Run(fmt.Sprintf("%s %s", cmp.Or(flags, "plain"), tc.name), func(t *testing.T) {
				_, err := Read(bytes.NewReader(tc.img))
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
			})
		}
	}
}
