package kmod

import (
	"slices"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// Kernel is one kernel's module indexes, with the root's modprobe.d, for
// asking what names stand for without resolving a closure.
type Kernel struct {
	r *resolver
}

// OpenKernel reads the indexes of the kernel version names (the newest
// in the tree when empty).
func OpenKernel(fsys *rootfs.FS, version string) (*Kernel, error) {
	r, _, err := newResolver(fsys, Options{KernelVersion: version})
	if err != nil {
		return nil, err
	}
	return &Kernel{r: r}, nil
}

// Version returns the kernel's version.
func (k *Kernel) Version() string { return k.r.ver }

// Lookup returns the modules a module name or alias (a modalias such as
// "pci:v00001AF4d00001001...") stands for, as modprobe finds them, or
// that it is built into the kernel. A name nothing matches is an error
// naming close matches.
func (k *Kernel) Lookup(name string) (modules []string, builtin bool, err error) {
	mods, builtin, _, err := k.r.lookup(name)
	for _, m := range mods {
		modules = append(modules, m.name)
	}
	return modules, builtin, err
}

// ModulesUnder returns the names of the kernel's modules whose file lies
// under one of the directories given relative to the module directory
// ("kernel/drivers/ata"), sorted: what a kernel ships for a kind of
// hardware.
func (k *Kernel) ModulesUnder(dirs ...string) []string {
	var names []string
	for _, m := range k.r.db.modules {
		for _, d := range dirs {
			if strings.HasPrefix(m.rel, strings.TrimSuffix(d, "/")+"/") {
				names = append(names, m.name)
				break
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
