// Package mkinitrd builds initrds: from a manifest, it resolves the
// minimal closure of files (package resolve) and streams it as a
// reproducible newc cpio archive (package cpiogen) through a compressor
// (package compressors), without a staging directory.
//
// The command mkinitrd-ng is a thin layer over this package; a program
// that builds images (an image builder, a test harness, a kernel hook
// written in Go) can do what it does in-process.
//
// # Building
//
// A build is one call. The manifest comes from JSON (resolve.ParseManifest,
// the format doc/manifest.md documents) or is written as a Go value; the
// Options override what the command line overrides:
//
//	f, err := os.Open("initrd.json")
//	...
//	m, err := resolve.ParseManifest(f, "initrd.json")
//	...
//	res, err := mkinitrd.Build(ctx, w, m, mkinitrd.Options{MTime: epoch})
//
// Build writes nothing to w when resolution fails, but once writing has
// begun an error can leave w with a partial image: write to a temporary
// file and rename it when Build succeeds, as mkinitrd-ng does.
//
// Build resolves the closure in packed form (resolve.ResolvePacked) with
// its early segments (the microcode and prepended archives), lays the
// archive out without reading a file and cuts it into segments at entry
// boundaries chosen from the entries, so that a changed file changes its
// own segment only (inode numbers come from paths), writes the early
// segments, and then has each compressor worker write its own segment,
// reading that segment's files itself (compressors.WriteParts). Files
// whose content is compressed already come after, stored. With
// Options.Cache, a segment compressed before is copied from the cache
// (package segcache).
// The segments are written to w in order, so the output does not depend on
// Options.Jobs.
//
// # Resolving and writing apart
//
// Resolve returns the closure, a sorted []resolve.Entry that says what
// each path of the initrd is, where its content comes from and why it is
// there, and the early segments that come before it (Closure.Early);
// nothing is read beyond what deciding this needs. WriteArchive
// streams such a closure as one uncompressed archive, reading file
// contents from the root (OpenRoot) as it goes. Between the two, a program
// can inspect the closure, or add entries that come from elsewhere (see
// the WriteArchive example). WriteEarly, then WriteArchive through
// compressors.NewSegmentedWriter with the same segment size, writes the
// bytes Build writes.
//
// # Reading images
//
// compressors.Detect and compressors.NewReader decode an image whatever
// its compression; cpiogen.NewReader lists the archive (see the list
// example).
//
// # Stability
//
// The API is this package's exported names and the types of packages
// resolve, cpiogen and compressors they use. New options are added as
// Options fields whose zero value keeps the old behaviour.
package mkinitrd
