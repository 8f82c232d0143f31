package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
)

// stopWait is how long a build has, after a signal, to stop by itself
// before it is abandoned: resolving does not look at the context, and
// neither does compressing one large file.
const stopWait = 3 * time.Second

// interrupt turns SIGINT, SIGTERM and SIGHUP into the cancellation of
// ctx, with compressors.Interrupted as the cause, so that external
// compressors get the signal too and the build stops. The build's caller
// then reports a stoppedError.
type interrupt struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	sigs    chan os.Signal
	quit    chan struct{} // closed by stop
	expired chan struct{} // closed stopWait after a signal
}

// watchSignals starts watching for the signals; stop must be called when
// the build has returned.
func watchSignals() *interrupt {
	in := &interrupt{sigs: make(chan os.Signal, 1), quit: make(chan struct{}), expired: make(chan struct{})}
	in.ctx, in.cancel = context.WithCancelCause(context.Background())
	signal.Notify(in.sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go in.watch()
	return in
}

func (in *interrupt) watch() {
	select {
	case s := <-in.sigs:
		in.cancel(compressors.Interrupted{Signal: s.(syscall.Signal)})
	case <-in.quit:
		return
	}
	select {
	case <-time.After(stopWait):
		close(in.expired)
	case <-in.quit:
	}
}

// errAbandoned is the error of a build that did not stop within stopWait
// of a signal.
var errAbandoned = errors.New("build abandoned")

// run runs build with the context, on a goroutine of its own, and
// returns its error. A build that has not returned stopWait after a
// signal is abandoned: run returns errAbandoned, and the caller undoes
// the output and exits without waiting for it.
func (in *interrupt) run(build func(ctx context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- build(in.ctx) }()
	select {
	case err := <-done:
		return err
	case <-in.expired:
		return errAbandoned
	}
}

// stop ends the watching.
func (in *interrupt) stop() {
	signal.Stop(in.sigs)
	close(in.quit)
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
