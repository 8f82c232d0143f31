// Package atomicfile writes a file so that readers see either the old
// content or the complete new one, never a part: an initrd cut short is an
// unbootable machine.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// File is a temporary file that becomes the target path on Commit.
// Commit and Abort may race (a signal handler aborts while the build
// commits), so they hold a lock.
type File struct {
	*os.File
	target string
	mu     sync.Mutex
	done   bool
}

// Create opens a temporary file in target's directory, so that the final
// rename stays on one filesystem and is atomic.
func Create(target string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temporary name would only confuse
		}
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	return &File{File: f, target: target}, nil
}

// Commit flushes the data to disk and renames the file over the target.
func (f *File) Commit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.target)
	}
	f.done = true
	err := f.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.target)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("%s: %w", f.target, err)
	}
	if d, err := os.Open(filepath.Dir(f.target)); err == nil {
		d.Sync() // make the rename itself durable; best effort
		d.Close()
	}
	return nil
}

// Abort removes the temporary file; the target is left as it was. It is
// safe to call after Commit, so it can be deferred.
func (f *File) Abort() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

// Target returns the path the file becomes on Commit.
func (f *File) Target() string { return f.target }
