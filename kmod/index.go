package kmod

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The binary index format read by libkmod (modules.dep.bin,
// modules.alias.bin, modules.symbols.bin, modules.builtin.bin,
// modules.builtin.alias.bin). libkmod has no fallback to the text files
// for these lookups: without modules.dep.bin, modprobe finds no module at
// all. The layout below is the one depmod writes (format version 2.1):
//
//	uint32 magic, uint32 version, uint32 root offset   (big-endian)
//	node: [prefix NUL] [first last child-offsets...] [count {priority value NUL}...]
//
// Each node offset carries flags in its high nibble telling which of the
// three parts are present. Nodes are written children first (post-order),
// so that a parent knows its children's offsets; depmod does the same,
// and writing the same trie the same way gives byte-identical files.
const (
	indexMagic   = 0xB007F457
	indexVersion = 0x00020001

	nodePrefix = 0x80000000
	nodeValues = 0x40000000
	nodeChilds = 0x20000000

	indexChildMax = 128
)

// indexValue is one value of a key; values of a key are kept sorted by
// priority (lower first).
type indexValue struct {
	priority uint32
	value    string
}

// indexNode is a node of a path-compressed trie: prefix holds the
// characters shared by every key below the node past the arc that led to
// it.
type indexNode struct {
	prefix      string
	values      []indexValue
	first, last int // range of children in use; first > last when none
	children    [indexChildMax]*indexNode
}

func newIndexNode(prefix string) *indexNode {
	return &indexNode{prefix: prefix, first: indexChildMax, last: -1}
}

// Index is an in-memory libkmod index under construction.
type Index struct {
	root *indexNode
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{root: newIndexNode("")} }

func checkASCII(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] >= indexChildMax {
			return fmt.Errorf("index: %q: only 7-bit ASCII is supported", s)
		}
	}
	return nil
}

// Insert adds value under key. Values of one key are ordered by priority;
// a value inserted with a priority equal to existing ones goes before
// them, as depmod does.
func (x *Index) Insert(key, value string, priority uint32) error {
	if err := checkASCII(key); err != nil {
		return err
	}
	if err := checkASCII(value); err != nil {
		return err
	}
	node := x.root
	i := 0
	for {
		// Make node.prefix a prefix of key[i:], splitting node if needed.
		j := 0
		for ; j < len(node.prefix); j++ {
			ch := node.prefix[j]
			if i+j >= len(key) || key[i+j] != ch {
				child := *node
				child.prefix = node.prefix[j+1:]
				*node = indexNode{prefix: node.prefix[:j], first: int(ch), last: int(ch)}
				node.children[ch] = &child
				break
			}
		}
		i += j
		if i == len(key) {
			node.addValue(value, priority)
			return nil
		}
		ch := key[i]
		if node.children[ch] == nil {
			if int(ch) < node.first {
				node.first = int(ch)
			}
			if int(ch) > node.last {
				node.last = int(ch)
			}
			child := newIndexNode(key[i+1:])
			child.addValue(value, priority)
			node.children[ch] = child
			return nil
		}
		node = node.children[ch]
		i++
	}
}

func (n *indexNode) addValue(value string, priority uint32) {
	k := 0
	for k < len(n.values) && n.values[k].priority < priority {
		k++
	}
	n.values = append(n.values, indexValue{})
	copy(n.values[k+1:], n.values[k:])
	n.values[k] = indexValue{priority: priority, value: value}
}

// Bytes returns the index in libkmod's on-disk format.
func (x *Index) Bytes() []byte {
	var b bytes.Buffer
	var hdr [12]byte
	binary.BigEndian.PutUint32(hdr[0:], indexMagic)
	binary.BigEndian.PutUint32(hdr[4:], indexVersion)
	b.Write(hdr[:])
	root := writeNode(&b, x.root)
	out := b.Bytes()
	binary.BigEndian.PutUint32(out[8:], root)
	return out
}

// writeNode writes n's subtree, children first, and returns n's offset
// with its flags.
func writeNode(b *bytes.Buffer, n *indexNode) uint32 {
	var childOffs []uint32
	if n.first <= n.last {
		childOffs = make([]uint32, n.last-n.first+1)
		for c := n.first; c <= n.last; c++ {
			if child := n.children[c]; child != nil {
				childOffs[c-n.first] = writeNode(b, child)
			}
		}
	}
	off := uint32(b.Len())
	var u [4]byte
	if n.prefix != "" {
		b.WriteString(n.prefix)
		b.WriteByte(0)
		off |= nodePrefix
	}
	if childOffs != nil {
		b.WriteByte(byte(n.first))
		b.WriteByte(byte(n.last))
		for _, c := range childOffs {
			binary.BigEndian.PutUint32(u[:], c)
			b.Write(u[:])
		}
		off |= nodeChilds
	}
	if len(n.values) > 0 {
		binary.BigEndian.PutUint32(u[:], uint32(len(n.values)))
		b.Write(u[:])
		for _, v := range n.values {
			binary.BigEndian.PutUint32(u[:], v.priority)
			b.Write(u[:])
			b.WriteString(v.value)
			b.WriteByte(0)
		}
		off |= nodeValues
	}
	return off
}
