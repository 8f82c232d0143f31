package main

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/inspect"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// whyResult is what why --json prints.
type whyResult struct {
	Path string `json:"path"`
	// Entry is the closure's entry for Path: Path itself, or where it
	// leads through symlinks of the initrd.
	Entry string `json:"entry"`
	// Via lists the symlinks of the initrd that Path goes through.
	Via []string `json:"via,omitempty"`
	// Chain is the reasons, from Entry back to the manifest, one
	// "path: reason" string per step.
	Chain []string `json:"chain"`
}

// whyCommand explains what pulled a path into the initrd.
func whyCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := subFlags("why", "PATH --manifest FILE [--root DIR] [--json]", stderr)
	var cfg config
	fl.StringVarP(&cfg.manifest, "manifest", "m", "", "manifest `FILE` (JSON; - reads standard input)")
	fl.StringVar(&cfg.root, "root", "", "read sources from `DIR` as if chrooted into it (default: the manifest's root, else /)")
	fl.StringVar(&cfg.kernelVersion, "kernel-version", "", "kernel `VERSION` whose modules are included")
	fl.BoolVar(&cfg.allowMissing, "allow-missing", false, "warn about libraries that cannot be found instead of failing")
	asJSON := fl.Bool("json", false, "print the chain as JSON")
	rest, code, done := parseSub(fl, args, 1, stderr)
	if done {
		return code
	}
	if cfg.manifest == "" {
		fmt.Fprintf(stderr, "%s: --manifest is required\n", fl.Name())
		return exitUsage
	}
	opts, err := options(&cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fl.Name(), err)
		return exitUsage
	}
	m, err := readManifest(cfg.manifest, stdin)
	if err != nil {
		return failed(fl, stderr, err)
	}
	c, err := mkinitrd.Resolve(m, opts)
	if err != nil {
		return failed(fl, stderr, err)
	}
	want := path.Clean("/" + rest[0])
	res, err := explain(c, want)
	if err != nil {
		return failed(fl, stderr, fmt.Errorf("%w built from %s", err, cfg.manifest))
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return failed(fl, stderr, err)
		}
		return exitOK
	}
	writeWhy(stdout, res)
	return exitOK
}

// writeWhy prints the chain of res, one step a line, escaped as
// listings are: the paths and reasons come from the root's files.
func writeWhy(w io.Writer, res *whyResult) {
	if res.Entry != res.Path {
		via := make([]string, len(res.Via))
		for i, v := range res.Via {
			via[i] = inspect.Escape(v)
		}
		fmt.Fprintf(w, "%s is %s in the initrd (through %s)\n", inspect.Escape(res.Path), inspect.Escape(res.Entry), strings.Join(via, ", "))
	}
	for i, step := range res.Chain {
		fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", i), inspect.Escape(step))
	}
}

// errNotInClosure says that a path is not in the initrd.
var errNotInClosure = errors.New("not in the initrd")

// explain finds p in the closure, following the closure's own symlinks
// (as the initrd will) when p names a path through one, and returns the
// chain of reasons.
func explain(c *resolve.Closure, p string) (*whyResult, error) {
	res := &whyResult{Path: p}
	cur := p
	for hops := 0; ; hops++ {
		if _, ok := c.Lookup(cur); ok {
			break
		}
		if hops == 40 {
			return nil, fmt.Errorf("%s: too many levels of symlinks in the initrd", p)
		}
		next, via, ok := throughSymlink(c, cur)
		if !ok {
			return nil, fmt.Errorf("%s: %w", p, errNotInClosure)
		}
		res.Via = append(res.Via, via)
		cur = next
	}
	res.Entry = cur
	res.Chain = c.Chain(cur)
	return res, nil
}

// throughSymlink rewrites p when one of its parent directories is a
// symlink of the closure: "/bin/sh" with "/bin -> usr/bin" is
// "/usr/bin/sh". Only parents are followed: a path that is itself a
// symlink entry is explained as that entry.
func throughSymlink(c *resolve.Closure, p string) (next, via string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := 1; i < len(parts); i++ {
		dir := "/" + strings.Join(parts[:i], "/")
		e, found := c.Lookup(dir)
		if !found || e.Kind != resolve.Symlink {
			continue
		}
		target := e.LinkTarget
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(dir), target)
		}
		return path.Clean(target + "/" + strings.Join(parts[i:], "/")), dir + " -> " + e.LinkTarget, true
	}
	return "", "", false
}
