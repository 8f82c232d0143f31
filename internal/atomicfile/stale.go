package atomicfile

import (
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StaleAge is how old a temporary file must be before RemoveStale takes
// it for one left by a killed run. A running writer also holds a lock on
// its file, so the age only guards the moment between its creation and
// the lock.
const StaleAge = time.Minute

// RemoveStale removes from dir the temporary files of base that runs
// killed before they could clean up left behind: names .BASE.tmp-DIGITS,
// regular files owned by us, unchanged for StaleAge and not locked by a
// writer. It is best effort: what cannot be removed stays.
func RemoveStale(dir, base string) {
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if isTempName(e.Name(), base) && e.Type().IsRegular() {
			removeIfStale(dir + "/" + e.Name())
		}
	}
}

// isTempName reports whether name is one createTemp makes for base.
func isTempName(name, base string) bool {
	digits, ok := strings.CutPrefix(name, tempPrefix(base))
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeIfStale removes p if it is a stale temporary file. The lock is
// taken on an open descriptor of p itself (O_NOFOLLOW), and p is removed
// while it is held, so a running writer's file is never removed.
func removeIfStale(p string) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < StaleAge {
		return
	}
	if int(fi.Sys().(*syscall.Stat_t).Uid) != os.Geteuid() {
		return
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return
	}
	// The name must still be this file: not replaced since it was opened.
	if cur, err := os.Lstat(p); err == nil && os.SameFile(fi, cur) {
		os.Remove(p)
	}
}
