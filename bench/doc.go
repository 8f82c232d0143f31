// Package bench holds benchmarks that span packages: `go test -bench .
// ./bench/` measures the newc writer feeding each compressor, and the
// command bench/cmd/mkinitrd-bench (run by `make bench`) compares whole
// builds with the cp + cpio + compressor pipeline.
package bench
