#!/bin/sh
# Runs every Go fuzz target of the module for a while each:
#   tests/fuzz.sh 10s      (make test: a smoke run)
#   tests/fuzz.sh 10m 60s  (make fuzz FUZZTIME=10m: a real hunt)
# The second argument bounds the minimisation of each new input (1s by
# default): when a short run ends during a long minimisation, go test
# fails it with "context deadline exceeded" though nothing is wrong.
# Failing inputs are written to the package's testdata/fuzz/<Target>/,
# where they become regression tests for `go test`.
set -eu
time=${1:-10s}
minimize=${2:-1s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "fuzz $pkg $target for $time"
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$time" -fuzzminimizetime "$minimize" "$pkg" >/tmp/fuzz.$$.log 2>&1 || {
			# Go 1.26's fuzz coordinator can report the end of -fuzztime
			# itself as a failure (see fuzzflake.sh).
			if sh tests/fuzzflake.sh /tmp/fuzz.$$.log; then
				echo "note: $target: the fuzzer's own deadline race at the end of $time (golang/go#75804), no failing input"
			else
				cat /tmp/fuzz.$$.log
				rm -f /tmp/fuzz.$$.log
				exit 1
			fi
		}
		tail -n 1 /tmp/fuzz.$$.log
	done
done
rm -f /tmp/fuzz.$$.log
