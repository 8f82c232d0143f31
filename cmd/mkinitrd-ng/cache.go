package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/segcache"
)

// openCache opens the segment cache of --cache, kept within --cache-max;
// nil without --cache.
func openCache(cfg *config) (*segcache.Cache, error) {
	if cfg.cache == "" {
		if cfg.cacheMax != "" {
			return nil, usageError{errors.New("--cache-max needs --cache")}
		}
		return nil, nil
	}
	var max int64
	if cfg.cacheMax != "" {
		n, err := segcache.ParseSize(cfg.cacheMax)
		if err != nil {
			return nil, usageError{fmt.Errorf("--cache-max: %w", err)}
		}
		max = n
	}
	c, err := segcache.Open(cfg.cache, max)
	if err != nil {
		return nil, fmt.Errorf("--cache: %w", err)
	}
	return c, nil
}

// reportCache prints the warnings of writing the image and, with -v,
// how many segments the cache gave.
func reportCache(cfg *config, res *mkinitrd.Result, stderr io.Writer) {
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if cfg.verbose && cfg.cache != "" {
		fmt.Fprintf(stderr, "cache: %d of %d compressed segments copied from %s (%d without reading their files)\n",
			res.Copied, res.Segments-res.Stored, cfg.cache, res.Unread)
	}
}
