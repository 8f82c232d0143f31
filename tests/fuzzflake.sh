#!/bin/sh
# tests/fuzzflake.sh LOG: exits 0 when a failed `go test -fuzz` log is only
# Go 1.26's coordinator race at the end of -fuzztime (golang/go#75804,
# fixed in Go 1.27): "context deadline exceeded" and nothing else wrong.
# A real finding always writes its input ("Failing input written to"); a
# crash panics; a failed check prints its _test.go:N: line.
set -eu
grep -q 'context deadline exceeded' "$1" &&
	! grep -Eq 'Failing input written|panic:|fuzzing process|_test\.go:[0-9]+:' "$1"
