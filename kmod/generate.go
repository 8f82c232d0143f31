package kmod

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
)

// generate writes the module indexes for the included modules, as depmod
// would write them for a tree holding only those modules, and the
// modules-load.d file. The text files are the tree's own lines for the
// included modules, in their order (depmod's order, from modules.order);
// the binary indexes are built from them with depmod's priorities (the
// position of a module in modules.dep).
func (r *resolver) generate() ([]Generated, error) {
	d := r.db
	w := newIndexWriter(d, r.sorted(), r.opts.Decompress)
	w.writeDep()
	w.writeAliases("modules.alias", aliasHeader, d.aliases, func(a aliasLine) string { return a.norm })
	w.writeDepLines("modules.softdep", softdepHeader, d.softdeps)
	if d.hasWeakdep {
		w.writeDepLines("modules.weakdep", weakdepHeader, d.weakdeps)
	}
	w.writeAliases("modules.symbols", symbolsHeader, d.symbols, func(a aliasLine) string { return a.pattern })
	w.writeDevname()
	if d.hasOrder {
		w.writeOrder()
	}
	w.writeBuiltin()
	out := w.out
	if len(r.opts.Load) > 0 {
		out = append(out, modulesLoad(r.opts.Load))
	}
	sortGenerated(out)
	if len(w.errs) > 0 {
		return out, joinSorted(w.errs)
	}
	return out, nil
}

// indexWhy is the reason given for each index generate writes.
const indexWhy = "module index for the included modules (depmod format)"

// indexWriter writes the files of a modules directory that holds only
// the included modules, from the tree's files in db.
type indexWriter struct {
	db     *db
	sel    []*included       // the included modules, in modules.dep order
	prio   map[string]uint32 // module name -> position in the new modules.dep
	newRel map[string]string // path in the tree -> path in the initrd
	out    []Generated
	errs   []error // from building the binary indexes
}

// newIndexWriter numbers the included modules sel and works out their
// paths in the initrd: without the compression suffix when decompress is
// set.
func newIndexWriter(d *db, sel []*included, decompress bool) *indexWriter {
	w := &indexWriter{db: d, sel: sel, prio: map[string]uint32{}, newRel: map[string]string{}}
	for i, inc := range sel {
		w.prio[inc.m.name] = uint32(i)
		rel := inc.m.rel
		if decompress {
			rel = strings.TrimSuffix(rel, compression(rel))
		}
		w.newRel[inc.m.rel] = rel
	}
	return w
}

// emit adds the file name of the modules directory.
func (w *indexWriter) emit(name string, data []byte, why string) {
	w.out = append(w.out, Generated{Path: path.Join(w.db.dir, name), Data: data, Why: why})
}

// insert adds key to the binary index x, keeping the error for generate.
func (w *indexWriter) insert(x *Index, key, value string, prio uint32) {
	if err := x.Insert(key, value, prio); err != nil {
		w.errs = append(w.errs, err)
	}
}

// writeDep writes modules.dep and modules.dep.bin: "rel: dep dep..."
// keyed by name.
func (w *indexWriter) writeDep() {
	var dep bytes.Buffer
	idx := NewIndex()
	for _, inc := range w.sel {
		line := w.newRel[inc.m.rel] + ":"
		for _, dr := range inc.m.deps {
			nr, ok := w.newRel[dr]
			if !ok {
				nr = dr // reported as an error by the closure already
			}
			line += " " + nr
		}
		dep.WriteString(line + "\n")
		w.insert(idx, inc.m.name, line, w.prio[inc.m.name])
	}
	w.emit("modules.dep", dep.Bytes(), indexWhy)
	w.emit("modules.dep.bin", idx.Bytes(), indexWhy)
}

// writeAliases writes modules.alias or modules.symbols (name) with its
// .bin index: the included modules' lines, each indexed under key(line).
// An alias whose brackets do not match has no key: as depmod does, it is
// kept in the text but not indexed.
func (w *indexWriter) writeAliases(name, header string, as *aliasFile, key func(aliasLine) string) {
	text := bytes.NewBufferString(header)
	idx := NewIndex()
	for a := range as.ofModules(w.prio) {
		i := w.prio[a.modname]
		fmt.Fprintf(text, "alias %s %s\n", a.pattern, a.modname)
		if k := key(a); k != "" {
			w.insert(idx, k, a.modname, i)
		}
	}
	w.emit(name, text.Bytes(), indexWhy)
	w.emit(name+".bin", idx.Bytes(), indexWhy)
}

// writeDepLines writes modules.softdep or modules.weakdep (name), the
// included modules' lines. They have no binary index: libkmod reads them
// as configuration.
func (w *indexWriter) writeDepLines(name, header string, ds []depLine) {
	text := bytes.NewBufferString(header)
	for _, s := range ds {
		if _, ok := w.prio[s.modname]; ok {
			text.WriteString(s.text + "\n")
		}
	}
	w.emit(name, text.Bytes(), indexWhy)
}

// writeDevname writes modules.devname, which kmod static-nodes reads: the
// included modules' lines.
func (w *indexWriter) writeDevname() {
	dev := bytes.NewBufferString(devnameHeader)
	for _, l := range w.db.devname {
		f := strings.Fields(l)
		if len(f) > 0 {
			if _, ok := w.prio[strings.ReplaceAll(f[0], "-", "_")]; ok {
				dev.WriteString(l + "\n")
			}
		}
	}
	w.emit("modules.devname", dev.Bytes(), indexWhy)
}

// writeOrder writes modules.order: the included modules' lines, matched
// on the uncompressed relative path as depmod matches them.
func (w *indexWriter) writeOrder() {
	byUncRel := map[string]bool{}
	for _, inc := range w.sel {
		byUncRel[strings.TrimSuffix(inc.m.rel, compression(inc.m.rel))] = true
	}
	var order bytes.Buffer
	for _, l := range w.db.order {
		if byUncRel[strings.TrimSuffix(l, compression(l))] {
			order.WriteString(l + "\n")
		}
	}
	w.emit("modules.order", order.Bytes(), indexWhy)
}

// writeBuiltin writes the tree's files on built-in modules as they are,
// and the indexes depmod derives from them.
func (w *indexWriter) writeBuiltin() {
	d := w.db
	if d.builtinText != nil {
		w.emit("modules.builtin", d.builtinText, "built-in module list of the kernel")
		w.emit("modules.builtin.bin", BuiltinIndex(d.builtinText), indexWhy)
	}
	if d.modinfoText != nil {
		w.emit("modules.builtin.modinfo", d.modinfoText, "modinfo of the kernel's built-in modules")
		if x, n := BuiltinAliasIndex(d.modinfoText); n > 0 {
			w.emit("modules.builtin.alias.bin", x, indexWhy)
		}
	}
}

// modulesLoad is the modules-load.d file that loads the modules names at
// boot, each once, in the order given.
func modulesLoad(names []string) Generated {
	var conf bytes.Buffer
	conf.WriteString("# Modules loaded at boot, written by mkinitrd-ng.\n")
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			conf.WriteString(n + "\n")
		}
	}
	return Generated{Path: ModulesLoadConf, Data: conf.Bytes(), Why: "modules to load at boot (manifest)"}
}

// BuiltinIndex builds modules.builtin.bin from the text of
// modules.builtin: each built-in module's name with an empty value.
func BuiltinIndex(builtin []byte) []byte {
	x := NewIndex()
	for _, l := range lines(builtin) {
		if l == "" || !isAlpha(l[0]) {
			continue // depmod rejects such lines too
		}
		_ = x.Insert(ModName(l), "", 0)
	}
	return x.Bytes()
}

// BuiltinAliasIndex builds modules.builtin.alias.bin from the text of
// modules.builtin.modinfo ("module.key=value" strings, NUL-separated):
// each alias of a built-in module maps to the module. n counts the
// aliases; depmod writes no file when there are none.
func BuiltinAliasIndex(modinfo []byte) (data []byte, n int) {
	x := NewIndex()
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		mod, key, val, ok := builtinModinfo(kv)
		if !ok || key != "alias" || val == "" {
			continue
		}
		a, ok := NormalizeAlias(val)
		if !ok {
			continue
		}
		if x.Insert(a, mod, 0) == nil {
			n++
		}
	}
	return x.Bytes(), n
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func sortGenerated(g []Generated) {
	sort.Slice(g, func(i, j int) bool { return g[i].Path < g[j].Path })
}
