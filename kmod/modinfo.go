package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
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
	if compression(p) == "" {
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
	rc, err := compressors.NewDecoder(f)
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
