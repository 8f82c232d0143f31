// Package compressors turns a named output format into an io.WriteCloser
// that produces a stream the Linux kernel can unpack as an initramfs, and
// recognises and decodes such streams for reading archives back.
//
// # Writing
//
// Lookup maps a name and a level to a Compressor. Level 0 always selects the
// format's default; any other level outside the range below is an error
// that states the range. A Compressor is an immutable value: NewWriter may be
// called from several goroutines at once, which is how segment-parallel
// compression is meant to get its parallelism (one writer per segment, each
// segment cut on a cpio entry boundary, outputs concatenated in order). For
// that reason the built-in writers run single-threaded, except lz4 (see
// below), and every built-in writer is deterministic: the same input gives
// the same bytes on any machine.
//
//	name  levels  default  meaning of the level
//	none  -       -        plain cpio; only level 0 is accepted
//	gzip  1-9     6        klauspost/compress/gzip level; no file name, mtime 0
//	                       (like gzip -n)
//	zstd  1-22    3        zstd CLI scale mapped with zstd.EncoderLevelFromZstd:
//	                       1-2 SpeedFastest, 3-5 SpeedDefault (the default),
//	                       6-9 SpeedBetterCompression, 10-22 SpeedBestCompression.
//	                       Window 8 MiB at every level, content checksum on.
//	xz    1-9     6        LZMA2 dictionary size, halving from 8 MiB:
//	                       1=32 KiB 2=64 KiB 3=128 KiB 4=256 KiB 5=512 KiB
//	                       6=1 MiB (the default) 7=2 MiB 8=4 MiB 9=8 MiB.
//	                       Always check CRC32 and the HashTable4 matcher.
//	lz4   1-9     (fast)   pierrec/lz4 Level1-Level9 (its HC compressor); the
//	                       default is CCompatFast, byte-identical to `lz4 -l`.
//	                       Always the legacy frame.
//
// The fixed choices are what the kernel needs: its xz decoder refuses CRC64
// and SHA-256 checks (the default of both xz(1) and ulikunitz/xz), its lz4
// decoder understands only the legacy frame, and its zstd decoder needs a
// bounded window. The xz dictionary is capped at 8 MiB because that is the
// largest size known to boot (kernel documentation advises 1 MiB or less).
// ulikunitz/xz's BinaryTree matcher is never used: it is about fifty times
// slower than HashTable4.
//
// lz4 cannot be split into segments (the kernel rejects anything after an
// lz4 stream), so its writer compresses up to four 8 MiB blocks in parallel;
// legacy blocks are independent, so the output does not depend on this.
//
// # External commands
//
// A name of the form "cmd:<command line>" runs a program that reads the
// archive on stdin and writes the compressed stream to stdout, for example
// "cmd:zstd -19 -T0". The command line is split into words with single and
// double quotes and backslash escapes, and run without a shell; External
// takes the words directly. When the program is a known compressor (zstd,
// gzip, pigz, xz, lzma, lz4, bzip2, lzop) Ext and Magic describe its output.
// Nothing checks that such a command's output boots: `xz` without
// --check=crc32 and `lz4` without -l produce streams the kernel refuses.
//
// # Reading
//
// Detect names the format of a stream from its first bytes, using the magic
// numbers the kernel itself checks, and NewReader decodes one format. The
// decoders accept what the kernel accepts from segment-parallel writers:
// concatenated gzip members, zstd frames, xz streams, lz4 legacy streams and
// bzip2 streams. Zero bytes between gzip members and between zstd frames are
// skipped as the kernel does; between xz streams the xz format's own padding
// rule applies (a multiple of four zero bytes).
package compressors
