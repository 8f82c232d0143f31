package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
)

// stopWait is how long a build has, after a signal, to stop by itself
// before the process exits without it: resolving does not look at the
// context, and neither does compressing one large file.
const stopWait = 3 * time.Second

// interrupt turns SIGINT, SIGTERM and SIGHUP into the cancellation of
// ctx, with compressors.Interrupted as the cause, so that external
// compressors get the signal too and the build stops. The build's caller
// then reports a stoppedError. A build that has not stopped within
// stopWait is abandoned: abort undoes its output and the process exits.
type interrupt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	sigs   chan os.Signal
	quit   chan struct{}
	mu     sync.Mutex // held by stop, and by the forced exit
	ended  bool
}

// watchSignals starts watching for the signals; stop must be called when
// the build has returned.
func watchSignals(stderr io.Writer, target string, abort func()) *interrupt {
	in := &interrupt{sigs: make(chan os.Signal, 1), quit: make(chan struct{})}
	in.ctx, in.cancel = context.WithCancelCause(context.Background())
	signal.Notify(in.sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go in.watch(stderr, target, abort)
	return in
}

func (in *interrupt) watch(stderr io.Writer, target string, abort func()) {
	var sig syscall.Signal
	select {
	case s := <-in.sigs:
		sig = s.(syscall.Signal)
	case <-in.quit:
		return
	}
	in.cancel(compressors.Interrupted{Signal: sig})
	select {
	case <-in.quit:
		return
	case <-time.After(stopWait):
	}
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		return
	}
	abort()
	fmt.Fprintf(stderr, "mkinitrd-ng: %v\n", stoppedError{sig, target})
	os.Exit(128 + int(sig))
}

// stop ends the watching; no forced exit happens after it returns.
func (in *interrupt) stop() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.ended {
		in.ended = true
		signal.Stop(in.sigs)
		close(in.quit)
	}
}

// stopped returns err, or a stoppedError when a signal stopped the build.
func (in *interrupt) stopped(err error, target string) error {
	var sig compressors.Interrupted
	if err != nil && errors.As(context.Cause(in.ctx), &sig) {
		return stoppedError{sig.Signal, target}
	}
	return err
}

// stoppedError is the error of a build that a signal stopped; its exit
// status is 128 plus the signal's number, as a shell reports it.
type stoppedError struct {
	sig    syscall.Signal
	target string
}

func (e stoppedError) Error() string {
	if e.target == "" {
		return fmt.Sprintf("%v: stopped", e.sig)
	}
	return fmt.Sprintf("%v: stopped; %s left unchanged", e.sig, e.target)
}

// exitCode is the exit status of a build that a signal stopped.
func (e stoppedError) exitCode() int { return 128 + int(e.sig) }
