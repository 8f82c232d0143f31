package inspect

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/internal/atomicfile"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// StatsVersion is the version of the Stats schema; it changes only when
// a field changes meaning or goes away (new fields may be added).
const StatsVersion = 1

// Stats summarises one build for size tracking (mkinitrd-ng --stats).
// Field names are stable; see the README for the schema.
type Stats struct {
	Version    int    `json:"version"`
	Output     string `json:"output"`
	Compressor string `json:"compressor"`
	// Level is the compression level asked for: a number, "max", or
	// "default".
	Level string `json:"level"`

	Entries       int              `json:"entries"`
	EntriesByKind map[string]int   `json:"entries_by_kind"`
	BytesByKind   map[string]int64 `json:"bytes_by_kind"`
	// BytesByStorePath sums file content per store path (with its hash);
	// entries outside a store are not counted here.
	BytesByStorePath map[string]int64 `json:"bytes_by_store_path"`
	// BytesByTopDir sums file content by the first two path components.
	BytesByTopDir map[string]int64 `json:"bytes_by_top_dir"`

	// ContentBytes is the file content (each hard-linked file once).
	ContentBytes int64 `json:"content_bytes"`
	// UncompressedBytes is the length of the cpio archive.
	UncompressedBytes int64 `json:"uncompressed_bytes"`
	// CompressedBytes is the length of the image written.
	CompressedBytes int64 `json:"compressed_bytes"`

	Seconds Timing `json:"seconds"`
}

// Timing is the wall-clock time of each phase of a build, in seconds.
type Timing struct {
	Resolve float64 `json:"resolve"`
	// Archive is writing the cpio archive and compressing it, which
	// happen together as a stream.
	Archive float64 `json:"archive_compress"`
	Total   float64 `json:"total"`
}

// NewStats counts a closure's entries and bytes, those of its early
// segments included: each prepended archive counts as an entry of kind
// "prepend", of its size. The caller fills in the sizes, times and
// compressor, which the closure does not know.
func NewStats(c *resolve.Closure) *Stats {
	s := &Stats{
		Version:          StatsVersion,
		EntriesByKind:    map[string]int{},
		BytesByKind:      map[string]int64{},
		BytesByStorePath: map[string]int64{},
		BytesByTopDir:    map[string]int64{},
	}
	seen := map[string]bool{} // hard-link groups counted
	for _, seg := range c.Early {
		if seg.Archive != "" {
			s.Entries++
			s.EntriesByKind["prepend"]++
			s.BytesByKind["prepend"] += seg.Size
		}
		for i := range seg.Entries {
			s.add(&seg.Entries[i], seen)
		}
	}
	for i := range c.Entries {
		s.add(&c.Entries[i], seen)
	}
	return s
}

// add counts an entry; seen holds the hard-link groups counted.
func (s *Stats) add(e *resolve.Entry, seen map[string]bool) {
	kind := e.Kind.String()
	s.Entries++
	s.EntriesByKind[kind]++
	var n int64
	switch e.Kind {
	case resolve.File:
		n = e.Size
		if e.Source == "" && e.Data != nil {
			n = int64(len(e.Data))
		}
		if e.HardLink != "" {
			if seen[e.HardLink] {
				n = 0
			}
			seen[e.HardLink] = true
		}
		s.ContentBytes += n
	case resolve.Symlink:
		n = int64(len(e.LinkTarget))
	}
	s.BytesByKind[kind] += n
	if e.Kind != resolve.File {
		return
	}
	s.BytesByTopDir[TopDir(e.Path)] += n
	if sp := StorePath(e.Path); sp != "" {
		s.BytesByStorePath[sp] += n
	}
}

// SetTimes records the phase times.
func (s *Stats) SetTimes(resolveTime, archiveTime time.Duration) {
	s.Seconds = Timing{Resolve: resolveTime.Seconds(), Archive: archiveTime.Seconds(),
		Total: (resolveTime + archiveTime).Seconds()}
}

// WriteFile writes s as indented JSON to name, atomically: a reader
// sees the old file or the complete new one.
func (s *Stats) WriteFile(name string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(name, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Commit()
}

// ReadStats reads a file WriteFile wrote.
func ReadStats(name string) (*Stats, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}
