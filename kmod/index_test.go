package kmod

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// lookupIndex finds the values of key in an index file, walking the trie
// as libkmod's index_search does, for exact keys.
func lookupIndex(t *testing.T, data []byte, key string) []string {
	t.Helper()
	if binary.BigEndian.Uint32(data) != indexMagic || binary.BigEndian.Uint32(data[4:]) != indexVersion {
		t.Fatal("bad index header")
	}
	cstr := func(off int) (string, int) {
		end := off
		for data[end] != 0 {
			end++
		}
		return string(data[off:end]), end + 1
	}
	off := binary.BigEndian.Uint32(data[8:])
	i := 0
	for {
		pos := int(off & 0x0FFFFFFF)
		prefix := ""
		if off&nodePrefix != 0 {
			prefix, pos = cstr(pos)
		}
		var first, last int
		var children []uint32
		if off&nodeChilds != 0 {
			first, last = int(data[pos]), int(data[pos+1])
			pos += 2
			for c := first; c <= last; c++ {
				children = append(children, binary.BigEndian.Uint32(data[pos:]))
				pos += 4
			}
		}
		if len(key)-i < len(prefix) || key[i:i+len(prefix)] != prefix {
			return nil
		}
		i += len(prefix)
		if i == len(key) {
			if off&nodeValues == 0 {
				return nil
			}
			n := int(binary.BigEndian.Uint32(data[pos:]))
			pos += 4
			var out []string
			for ; n > 0; n-- {
				prio := binary.BigEndian.Uint32(data[pos:])
				var v string
				v, pos = cstr(pos + 4)
				out = append(out, fmt.Sprintf("%d:%s", prio, v))
			}
			return out
		}
		c := int(key[i])
		if c < first || c > last || children == nil || children[c-first] == 0 {
			return nil
		}
		off = children[c-first]
		i++
	}
}

func TestIndexRoundTrip(t *testing.T) {
	x := NewIndex()
	keys := map[string][]string{}
	add := func(k, v string, prio uint32) {
		must(t, x.Insert(k, v, prio))
	}
	// The example of depmod's comment, values of one key with priorities,
	// an empty key, a key that is a prefix of others.
	add("ask", "1", 0)
	add("ate", "2", 0)
	add("on", "3", 0)
	add("once", "4", 0)
	add("one", "5", 0)
	add("on", "6", 7)
	add("on", "7", 2)
	add("on", "8", 2) // equal priority: goes before the earlier one
	add("", "root", 1)
	keys["ask"] = []string{"0:1"}
	keys["ate"] = []string{"0:2"}
	keys["on"] = []string{"0:3", "2:8", "2:7", "7:6"}
	keys["once"] = []string{"0:4"}
	keys["one"] = []string{"0:5"}
	keys[""] = []string{"1:root"}
	rng := rand.New(rand.NewSource(1))
	for n := 0; n < 2000; n++ {
		b := make([]byte, 1+rng.Intn(12))
		for i := range b {
			b[i] = "abcdef_-:*"[rng.Intn(10)]
		}
		k := string(b)
		v := fmt.Sprint(n)
		prio := uint32(rng.Intn(3))
		add(k, v, prio)
		// Mirror the insertion rule: before the first of equal or higher priority.
		vals := keys[k]
		j := 0
		for j < len(vals) && prioOf(vals[j]) < prio {
			j++
		}
		keys[k] = slices.Insert(vals, j, fmt.Sprintf("%d:%s", prio, v))
	}
	data := x.Bytes()
	for k, want := range keys {
		if got := lookupIndex(t, data, k); !slices.Equal(got, want) {
			t.Fatalf("key %q: %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"a", "as", "askx", "o", "z", "onc"} {
		if _, ok := keys[k]; ok {
			continue
		}
		if got := lookupIndex(t, data, k); got != nil {
			t.Errorf("absent key %q found: %q", k, got)
		}
	}
	if err := x.Insert("caf\xe9", "x", 0); err == nil {
		t.Error("a non-ASCII key was accepted")
	}
}

func prioOf(s string) uint32 {
	var p uint32
	fmt.Sscanf(s, "%d:", &p)
	return p
}
