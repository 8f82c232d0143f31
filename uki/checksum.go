package uki

import "encoding/binary"

// checksum computes a PE image's CheckSum field as Windows' imagehlp
// CheckSumMappedFile does and EDK2 and sbsigntool check it: the sum of
// the file's little-endian 16-bit words with the carries folded back in
// (one's complement addition), a last odd byte counted as a word, plus
// the file's length. The CheckSum field itself must be written as zero.
// Writes may be of any length: a byte left over waits for the next.
type checksum struct {
	sum uint64
	n   int64 // bytes written
	odd bool  // the low byte of a word is pending
	low byte
}

// Write adds p to the sum; it never fails.
func (c *checksum) Write(p []byte) (int, error) {
	n := len(p)
	c.n += int64(n)
	if c.odd && len(p) > 0 {
		c.sum += uint64(c.low) | uint64(p[0])<<8
		p, c.odd = p[1:], false
	}
	for len(p) >= 8 {
		v := binary.LittleEndian.Uint64(p)
		c.sum += v&0xffff + v>>16&0xffff + v>>32&0xffff + v>>48
		p = p[8:]
	}
	for len(p) >= 2 {
		c.sum += uint64(binary.LittleEndian.Uint16(p))
		p = p[2:]
	}
	if len(p) == 1 {
		c.low, c.odd = p[0], true
	}
	return n, nil
}

// Sum returns the CheckSum of what was written.
func (c *checksum) Sum() uint32 {
	s := c.sum
	if c.odd {
		s += uint64(c.low)
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint32(s) + uint32(c.n)
}
