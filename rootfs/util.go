package rootfs

import (
	"io"
	"io/fs"
	"os"
	"sort"
)

func sortEntries(ents []fs.DirEntry) {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
}

// readAll reads a file whole, sizing the buffer from its length.
func readAll(f *os.File) ([]byte, error) {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() < 1<<30 {
		buf := make([]byte, fi.Size())
		n, err := io.ReadFull(f, buf)
		if err == io.ErrUnexpectedEOF {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		rest, err := io.ReadAll(f)
		return append(buf, rest...), err
	}
	return io.ReadAll(f)
}
