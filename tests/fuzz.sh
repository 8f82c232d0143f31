#!/bin/sh
# Runs every Go fuzz target of the module for a while each:
#   tests/fuzz.sh 10s      (make test: a smoke run)
#   tests/fuzz.sh 10m      (make fuzz FUZZTIME=10m: a real hunt)
# Failing inputs are written to the package's testdata/fuzz/<Target>/,
# where they become regression tests for `go test`.
set -eu
time=${1:-10s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "fuzz $pkg $target for $time"
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$time" "$pkg" >/tmp/fuzz.$$.log 2>&1 || {
			cat /tmp/fuzz.$$.log
			rm -f /tmp/fuzz.$$.log
			exit 1
		}
		tail -n 1 /tmp/fuzz.$$.log
	done
done
rm -f /tmp/fuzz.$$.log
