// Package compressors turns a named output format into an io.WriteCloser
// that produces a stream the Linux kernel can unpack as an initramfs, and
// recognises and decodes such streams for reading archives back.
//
// # Writing
//
// Lookup maps a name and a level to a Compressor. Level 0 always selects the
// format's default and LevelMax ("max" to ParseLevel) its smallest output
// known to boot (the top of its range, except for xz: see below); any other
// level outside the range below is an error that states the range. A
// Compressor is an immutable value: NewWriter may be called from several
// goroutines at once, which is how NewSegmentedWriter
// gets its parallelism (one writer per segment, each segment cut on a cpio
// entry boundary, outputs concatenated in order). For that reason the
// built-in writers run single-threaded, except lz4 (see below), and every
// built-in writer is deterministic: the same input gives the same bytes on
// any machine.
//
//	name  levels  default  meaning of the level
//	none  -       -        plain cpio, written in 256 KiB pieces; only level 0 is accepted
//	gzip  1-9     6        klauspost/compress/gzip level; no file name, mtime 0
//	                       (like gzip -n)
//	zstd  1-22    3        zstd CLI scale mapped with zstd.EncoderLevelFromZstd:
//	                       1-2 SpeedFastest, 3-5 SpeedDefault (the default),
//	                       6-9 SpeedBetterCompression, 10-22 SpeedBestCompression.
//	                       Window 8 MiB at every level, content checksum on.
//	xz    1-9     5        LZMA2 dictionary size, halving from 8 MiB:
//	                       1=32 KiB 2=64 KiB 3=128 KiB 4=256 KiB
//	                       5=512 KiB (the default) 6=1 MiB 7=2 MiB 8=4 MiB
//	                       9=8 MiB. Always check CRC32 and the HashTable4
//	                       matcher, which does worse with larger
//	                       dictionaries: max is level 4, its smallest.
//	lz4   1-9     (fast)   pierrec/lz4 Level1-Level9 (its HC compressor); the
//	                       default is CCompatFast, byte-identical to `lz4 -l`.
//	                       Always the legacy frame.
//
// The fixed choices are what the kernel needs: its xz decoder refuses CRC64
// and SHA-256 checks (the default of both xz(1) and ulikunitz/xz), its lz4
// decoder understands only the legacy frame, and its zstd decoder needs a
// bounded window. The xz dictionary is capped at 8 MiB because that is the
// largest size known to boot (kernel documentation advises 1 MiB or less).
// ulikunitz/xz's BinaryTree matcher is never used: it is far slower than
// HashTable4.
//
// lz4 cannot be split into segments (the kernel rejects anything after an
// lz4 stream), so its writer compresses several 8 MiB blocks in parallel
// (up to four with NewWriter, Jobs with NewSegmentedWriter); legacy blocks
// are independent, so the output does not depend on this.
//
// # Engines
//
// The plain format names use pure-Go encoders, the portable default. The
// names gzip-cli, zstd-cli and xz-cli run the format's reference tool
// instead, one process per segment, with the level on the tool's own
// scale. They reach sizes the Go encoders cannot (doc/performance.md
// compares every preset), but they need the tool installed and their
// output depends on its version:
//
//	name      levels  default  command run for each segment
//	gzip-cli  1-9     6        gzip -n -c -LEVEL
//	zstd-cli  1-19    tuned    zstd -q -c --single-thread -LEVEL (no --ultra: windows stay <= 8 MiB)
//	xz-cli    1-9     tuned    xz -q -c -T1 --check=crc32 --lzma2=preset=LEVEL,dict=D
//	                           with D the preset's dictionary capped at 8 MiB
//
// xz-cli's default is not one of xz's presets but
// --lzma2=preset=5,mf=hc4,depth=4,dict=2MiB: a hash-chain match finder
// with a shallow search over a 2 MiB dictionary, a fraction of the time
// of xz -6 for little more size; its max is preset 9 (the same bytes as
// 6, 7 and 8 once the dictionary is capped; -9e is no smaller).
//
// A segment that mostly holds x86 programs and libraries (see Code and
// Part.CompressCode) is compressed by xz-cli with xz's x86 filter before
// LZMA2: --x86 --lzma2=preset=1,dict=2MiB at the default, whose fast
// search the filter brings within 1% of the tuned one's size, and
// --x86 before the level's options at other levels.
//
// zstd-cli's default is not one of zstd's levels either but
// -8 --zstd=wlog=23,mml=4,slog=3: level 8's search with a window as
// large as a segment and matches from 4 bytes, faster than level 9 for a
// smaller output; --level 3 is zstd's own default.
//
// The tools' option variables (GZIP, ZSTD_CLEVEL, ZSTD_NBTHREADS,
// XZ_DEFAULTS, XZ_OPT) are removed from their environment.
//
// # Segments
//
// NewSegmentedWriter cuts the archive into segments of about
// DefaultSegmentSize (8 MiB) at entry boundaries and compresses Jobs of
// them at once; the kernel unpacks the concatenated streams one after the
// other. The segment size is fixed, not derived from the number of cores,
// so the output is the same on any machine. WriteSegments does the same
// for an archive its caller has already cut and can write segment by
// segment, each in its own worker: mkinitrd.Build plans its archive so, and
// the input is then read in parallel too. WriteParts lets each segment be
// compressed, with a copy of its compressed bytes for a cache, or written
// as it is (Part.Raw): a segment compressed before, or files the kernel
// takes uncompressed, aligned as it needs. Segmented says which
// compressors cut, and Fingerprint what, besides the input, decides a
// compressor's bytes: the key of a cached segment.
//
// # External commands
//
// A name of the form "cmd:<command line>" runs a program that reads the
// archive on stdin and writes the compressed stream to stdout, for example
// "cmd:zstd -19 -T0". The command line is split into words with single and
// double quotes and backslash escapes, and run without a shell; External
// takes the words directly. When the program is a known compressor (zstd,
// gzip, pigz, xz, lzma, lz4, bzip2, lzop) Ext and Magic describe its output.
// The output is checked only as far as its magic: a program that exits 0
// must have written a stream that Detect names (ErrNoOutput,
// ErrUnknownOutput), so `lz4` without -l (the frame format) is an error,
// but `xz` without --check=crc32 still makes a stream the kernel refuses.
// Such a command always writes one stream: it is never segmented.
//
// Programs run in a process group of their own. WithContext binds a
// compressor to a context whose end stops the whole group, with the
// signal an Interrupted cause names; whatever a program leaves running in
// its group when it exits is killed.
//
// # Reading
//
// Detect names the format of a stream from its first bytes, using the magic
// numbers the kernel itself checks, and NewReader decodes one format. The
// decoders accept what the kernel accepts from segment-parallel writers:
// concatenated gzip members, zstd frames, xz streams, lz4 legacy streams and
// bzip2 streams. Zero bytes between gzip members and between zstd frames are
// skipped as the kernel does; between xz streams the xz format's own padding
// rule applies (a multiple of four zero bytes). NewDecoder does both for
// a compressed file, such as a .ko.xz module. Concatenated and Last say
// what may follow a stream of a format in an image.
//
// # Formats
//
// One table describes every format: its name, magic number and
// extension, its decoder, the built-in writer with its levels and the
// CLI engine, the programs that write it, and whether its streams are
// concatenated or must come last. Lookup, Names, CLINames, Detect,
// NewReader and the checks of external commands all read it, so a new
// format is one entry there.
package compressors
