package kmod

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
	"github.com/ulikunitz/xz"
)

// ModInfo is the .modinfo section of a module: NUL-separated key=value
// strings, in the order they appear.
type ModInfo []KeyValue

// KeyValue is one .modinfo string.
type KeyValue struct{ Key, Value string }

// Get returns the values of key, in order.
func (m ModInfo) Get(key string) []string {
	var out []string
	for _, kv := range m {
		if kv.Key == key {
			out = append(out, kv.Value)
		}
	}
	return out
}

// ParseModInfo splits the contents of a .modinfo section.
func ParseModInfo(data []byte) ModInfo {
	var out ModInfo
	for _, s := range bytes.Split(data, []byte{0}) {
		if len(s) == 0 {
			continue
		}
		k, v, _ := strings.Cut(string(s), "=")
		out = append(out, KeyValue{k, v})
	}
	return out
}

// ReadModInfo reads the .modinfo section of an uncompressed module
// (an ELF relocatable object). A module without the section has an empty
// ModInfo.
func ReadModInfo(r io.ReaderAt) (ModInfo, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf(".modinfo: %w", err)
	}
	return ParseModInfo(data), nil
}

// DecompressFunc returns a reader of the decompressed contents of r; the
// caller closes it (which does not close r).
type DecompressFunc func(r io.Reader) (io.ReadCloser, error)

// Decompressor returns the function that decompresses a module or
// firmware file by the suffix of its name (.xz, .zst, .gz), or nil when
// the name has none of them.
func Decompressor(name string) DecompressFunc {
	switch compression(name) {
	case ".xz":
		return func(r io.Reader) (io.ReadCloser, error) {
			// ulikunitz/xz reads a byte at a time: without a buffer, each
			// byte is a read(2) and decoding is ten times slower.
			x, err := xz.NewReader(bufio.NewReaderSize(r, 64<<10))
			if err != nil {
				return nil, err
			}
			return io.NopCloser(x), nil
		}
	case ".zst":
		return func(r io.Reader) (io.ReadCloser, error) {
			// One synchronous decoder per stream: no goroutines to leak.
			d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		}
	case ".gz":
		return func(r io.Reader) (io.ReadCloser, error) {
			return gzip.NewReader(r)
		}
	}
	return nil
}

// moduleFacts is what reading a module file tells.
type moduleFacts struct {
	info ModInfo
	size int64 // size of the file, or of its decompressed contents when compressed
}

// readModule reads the modinfo of the module at p in the tree, and its
// size: for a compressed module, the size of its decompressed contents,
// measured by decompressing it in memory (needed anyway to read the ELF
// sections).
func readModule(fsys *rootfs.FS, p string) (moduleFacts, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return moduleFacts{}, err
	}
	defer f.Close()
	dec := Decompressor(p)
	if dec == nil {
		fi, err := f.Stat()
		if err != nil {
			return moduleFacts{}, err
		}
		info, err := ReadModInfo(f)
		if err != nil {
			return moduleFacts{}, fmt.Errorf("%s: %w", p, err)
		}
		return moduleFacts{info: info, size: fi.Size()}, nil
	}
	rc, err := dec(f)
	if err != nil {
		return moduleFacts{}, fmt.Errorf("%s: %w", p, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return moduleFacts{}, fmt.Errorf("%s: decompressing: %w", p, err)
	}
	info, err := ReadModInfo(bytes.NewReader(data))
	if err != nil {
		return moduleFacts{}, fmt.Errorf("%s: %w", p, err)
	}
	return moduleFacts{info: info, size: int64(len(data))}, nil
}
