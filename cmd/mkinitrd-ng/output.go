package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/internal/atomicfile"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// imageMode is the mode of a new image: an initrd may hold keys (for
// crypttab, say), so only its owner reads it. An image that is replaced
// keeps its own mode and owner (see atomicfile).
const imageMode = 0o600

// checkOutputs applies the output rules (see atomicfile) to the image and
// the --stats file before anything is done, and refuses an output that
// is the manifest or the other output. It returns the outputs that
// exist, which the build must not read as sources.
func checkOutputs(cfg *config, manifest os.FileInfo) ([]os.FileInfo, error) {
	var targets []*atomicfile.Target
	for _, name := range []string{cfg.output, cfg.stats} {
		if name == "" || name == "-" {
			continue
		}
		t, err := atomicfile.Resolve(name)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	if len(targets) == 2 && targets[0].Same(targets[1]) {
		return nil, fmt.Errorf("--stats %s: is the --output %s: %w", cfg.stats, cfg.output, mkinitrd.ErrInputIsOutput)
	}
	var infos []os.FileInfo
	for _, t := range targets {
		if t.Info == nil {
			continue
		}
		if manifest != nil && os.SameFile(t.Info, manifest) {
			return nil, fmt.Errorf("%s: is the manifest: %w", t.Name, mkinitrd.ErrInputIsOutput)
		}
		infos = append(infos, t.Info)
	}
	return infos, nil
}

// imageFile is the image's temporary file, created once the closure is
// resolved (see mkinitrd.Options.Resolved), or at the first write: a
// source directory that holds the output then does not list it.
type imageFile struct {
	name string
	mu   sync.Mutex // an abandoned build may still write
	f    *atomicfile.File
	err  error
}

func (o *imageFile) file() (*atomicfile.File, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil && o.err == nil {
		o.f, o.err = atomicfile.Create(o.name, imageMode)
	}
	return o.f, o.err
}

// create creates the temporary file, if it is not yet.
func (o *imageFile) create() error {
	_, err := o.file()
	return err
}

func (o *imageFile) Write(p []byte) (int, error) {
	f, err := o.file()
	if err != nil {
		return 0, err
	}
	return f.Write(p)
}

// Commit renames the complete image over the output.
func (o *imageFile) Commit() error {
	f, err := o.file()
	if err != nil {
		return err
	}
	return f.Commit()
}

// Abort removes the temporary file, if there is one; no file is created
// after it.
func (o *imageFile) Abort() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f != nil {
		o.f.Abort()
	} else if o.err == nil {
		o.err = fmt.Errorf("%s: build stopped", o.name)
	}
}

// writeOutput builds into a temporary file renamed over the output only
// when complete; a signal stops the build and removes the temporary
// file.
func writeOutput(cfg *config, m *resolve.Manifest, opts mkinitrd.Options, stdout, stderr io.Writer) error {
	var w io.Writer = stdout
	var out *imageFile
	target := ""
	if cfg.output != "-" {
		out = &imageFile{name: cfg.output}
		w, target = out, cfg.output
		opts.Resolved = out.create
	}
	in := watchSignals()
	defer in.stop()
	var res *mkinitrd.Result
	err := in.run(func(ctx context.Context) error {
		var err error
		res, err = mkinitrd.Build(ctx, w, m, opts)
		return err
	})
	if err == nil && out != nil {
		err = out.Commit()
	}
	if out != nil {
		out.Abort()
	}
	if err != nil {
		return in.stopped(err, target)
	}
	report(cfg, res, stderr)
	if cfg.stats != "" {
		return writeStats(cfg, m, opts, res, stdout)
	}
	return nil
}

// writeStatsTo writes the statistics as indented JSON to standard output,
// as inspect.Stats.WriteFile writes a file.
func writeStatsTo(w io.Writer, s any) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
