package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestInterruptAbandons: a signal cancels the build's context; a build
// that returns then is stopped, one that does not return within stopWait
// is abandoned, and both report the signal's exit status.
func TestInterruptAbandons(t *testing.T) {
	for _, ignores := range []bool{false, true} {
		in := watchSignals()
		started := make(chan struct{})
		go func() {
			<-started
			syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
		}()
		begin := time.Now()
		err := in.run(func(ctx context.Context) error {
			close(started)
			if ignores {
				select {} // a build that never looks at ctx
			}
			<-ctx.Done()
			return ctx.Err()
		})
		in.stop()
		if ignores != errors.Is(err, errAbandoned) {
			t.Errorf("ignores=%v: run = %v", ignores, err)
		}
		if ignores && time.Since(begin) < stopWait {
			t.Errorf("abandoned after %v, before stopWait", time.Since(begin))
		}
		var se stoppedError
		if !errors.As(in.stopped(err, "img"), &se) || se.exitCode() != 128+int(syscall.SIGHUP) {
			t.Errorf("ignores=%v: stopped = %v, want SIGHUP's stoppedError", ignores, in.stopped(err, "img"))
		}
	}
}
