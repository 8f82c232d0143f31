package main

import (
	"fmt"
	"io"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// selectCompressor returns the compressor of a build, as
// mkinitrd.SelectCompressor does; when neither the command line nor the
// manifest names one, it says with verbose which default it chose and
// why, since the choice depends on the target kernel.
func selectCompressor(m *resolve.Manifest, opts mkinitrd.Options, verbose bool, stderr io.Writer) (compressors.Compressor, error) {
	if opts.Compressor != nil || m.Compress.Name != "" || m.Compress.Argv != nil {
		return mkinitrd.SelectCompressor(m, opts)
	}
	c, why, err := mkinitrd.DefaultCompressor(m, opts)
	if err == nil && verbose {
		fmt.Fprintf(stderr, "compressor %s\n", why)
	}
	return c, err
}
