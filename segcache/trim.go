package segcache

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// staleTemp is the age after which Trim removes a temporary file: no
// build writes one for that long, so it is left from one that stopped.
const staleTemp = time.Hour

// Trim removes the least recently used entries and hints until the cache
// takes at most its size on disk, if this Cache has written since it was
// opened (or last trimmed); a cache that was only read has not grown. It
// also removes stale temporary files. Files that another build removes
// in the meantime are no matter.
func (c *Cache) Trim() error {
	c.mu.Lock()
	wrote := c.wrote
	c.wrote = false
	c.mu.Unlock()
	if !wrote {
		return nil
	}
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("segcache: %w", err)
	}
	type file struct {
		name string
		used time.Time
		size int64
	}
	var files []file
	var total int64
	for _, de := range des {
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if isTemp(de.Name()) {
			if time.Since(fi.ModTime()) > staleTemp {
				os.Remove(filepath.Join(c.dir, de.Name()))
			}
			continue
		}
		f := file{name: de.Name(), used: fi.ModTime(), size: diskSize(fi)}
		files = append(files, f)
		total += f.size
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= c.max {
			break
		}
		if err := os.Remove(filepath.Join(c.dir, f.name)); err == nil || os.IsNotExist(err) {
			total -= f.size
		}
	}
	return nil
}

// diskSize is what a file takes on disk: its blocks, which a hint of a
// few bytes fills whole.
func diskSize(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// ParseSize reads a cache size: a number of bytes with an optional
// binary suffix K, M, G or T (or KiB, MiB, GiB, TiB), such as "1G".
func ParseSize(s string) (int64, error) {
	num, unit := s, int64(1)
	for i, suffix := range []string{"K", "M", "G", "T"} {
		if n, ok := strings.CutSuffix(strings.TrimSuffix(s, "iB"), suffix); ok && n != s {
			num, unit = n, 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<63-1)/unit {
		return 0, fmt.Errorf("%q: want a size such as 512M, 2G or 1073741824", s)
	}
	return n * unit, nil
}
