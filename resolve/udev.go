package resolve

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/udevrules"
)

// udevDirs are where udev looks up a rule's program named without a
// directory: its own directory, /usr/lib/udev, or /lib/udev where /lib
// is not merged into /usr.
var udevDirs = [...]string{"/usr/lib/udev/", "/lib/udev/"}

// isUdevRules reports whether file is a udev rules file by its place:
// a .rules file in a udev/rules.d directory.
func isUdevRules(file string) bool {
	return strings.HasSuffix(file, ".rules") && strings.HasSuffix(path.Dir(file), "/udev/rules.d")
}

// udevPrograms adds the programs that the rules file runs, and returns
// its content for the rest of the analysis. A program the root lacks is
// a warning: rules name programs for hardware and setups an image may
// not have.
func (r *resolver) udevPrograms(o *outcome, file string, head []byte, rest io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.MultiReader(bytes.NewReader(head), rest))
	if err != nil {
		return nil, err
	}
	programs, err := udevrules.Programs(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, p := range programs {
		found, ok := r.udevProgram(p.Name)
		if !ok {
			o.warnf("%s:%d: %s runs %s, which the root does not have: left out", file, p.Line, p.Key, p.Name)
			continue
		}
		o.next = append(o.next, request{path: found, why: fmt.Sprintf("run by udev rule %s:%d", file, p.Line), program: true})
	}
	return data, nil
}

// udevProgram returns the path of a rule's program in the root.
func (r *resolver) udevProgram(name string) (string, bool) {
	candidates := []string{name}
	if !strings.HasPrefix(name, "/") {
		candidates = candidates[:0]
		for _, dir := range udevDirs {
			candidates = append(candidates, dir+name)
		}
	}
	for _, p := range candidates {
		if _, err := r.fs.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}
