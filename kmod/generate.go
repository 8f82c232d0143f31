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
	sel := r.sorted()
	newIdx := map[string]uint32{}
	newRel := map[string]string{} // old rel -> rel in the initrd
	for i, inc := range sel {
		newIdx[inc.m.name] = uint32(i)
		rel := inc.m.rel
		if r.opts.Decompress {
			rel = strings.TrimSuffix(rel, compression(rel))
		}
		newRel[inc.m.rel] = rel
	}
	var out []Generated
	emit := func(name string, data []byte, why string) {
		out = append(out, Generated{Path: path.Join(d.dir, name), Data: data, Why: why})
	}
	const why = "module index for the included modules (depmod format)"
	var errs []error
	insert := func(x *Index, key, value string, prio uint32) {
		if err := x.Insert(key, value, prio); err != nil {
			errs = append(errs, err)
		}
	}

	// modules.dep and modules.dep.bin: "rel: dep dep..." keyed by name.
	var dep bytes.Buffer
	depIdx := NewIndex()
	for _, inc := range sel {
		line := newRel[inc.m.rel] + ":"
		for _, dr := range inc.m.deps {
			nr, ok := newRel[dr]
			if !ok {
				nr = dr // reported as an error by the closure already
			}
			line += " " + nr
		}
		dep.WriteString(line + "\n")
		insert(depIdx, inc.m.name, line, newIdx[inc.m.name])
	}
	emit("modules.dep", dep.Bytes(), why)
	emit("modules.dep.bin", depIdx.Bytes(), why)

	// modules.alias and modules.symbols, each with its .bin index: the
	// included modules' lines; an alias whose brackets do not match is
	// kept in the text but, as depmod does, not indexed.
	aliases := func(name, header string, as []aliasLine, key func(aliasLine) string) {
		text := bytes.NewBufferString(header)
		idx := NewIndex()
		for _, a := range as {
			i, ok := newIdx[a.modname]
			if !ok {
				continue
			}
			fmt.Fprintf(text, "alias %s %s\n", a.pattern, a.modname)
			if k := key(a); k != "" {
				insert(idx, k, a.modname, i)
			}
		}
		emit(name, text.Bytes(), why)
		emit(name+".bin", idx.Bytes(), why)
	}
	aliases("modules.alias", aliasHeader, d.aliases, func(a aliasLine) string { return a.norm })

	// modules.softdep and modules.weakdep (text only: libkmod reads them
	// as configuration).
	deps := func(name, header string, ds []depLine) {
		text := bytes.NewBufferString(header)
		for _, s := range ds {
			if _, ok := newIdx[s.modname]; ok {
				text.WriteString(s.text + "\n")
			}
		}
		emit(name, text.Bytes(), why)
	}
	deps("modules.softdep", softdepHeader, d.softdeps)
	if d.hasWeakdep {
		deps("modules.weakdep", weakdepHeader, d.weakdeps)
	}
	aliases("modules.symbols", symbolsHeader, d.symbols, func(a aliasLine) string { return a.pattern })

	// modules.devname, read by kmod static-nodes.
	dev := bytes.NewBufferString(devnameHeader)
	for _, l := range d.devname {
		f := strings.Fields(l)
		if len(f) > 0 {
			if _, ok := newIdx[strings.ReplaceAll(f[0], "-", "_")]; ok {
				dev.WriteString(l + "\n")
			}
		}
	}
	emit("modules.devname", dev.Bytes(), why)

	// modules.order: the included modules' lines, matched on the
	// uncompressed relative path as depmod matches them.
	if d.hasOrder {
		byUncRel := map[string]bool{}
		for _, inc := range sel {
			byUncRel[strings.TrimSuffix(inc.m.rel, compression(inc.m.rel))] = true
		}
		var order bytes.Buffer
		for _, l := range d.order {
			if byUncRel[strings.TrimSuffix(l, compression(l))] {
				order.WriteString(l + "\n")
			}
		}
		emit("modules.order", order.Bytes(), why)
	}

	// Built-in modules: the tree's files as they are, and the indexes
	// depmod derives from them.
	if d.builtinText != nil {
		emit("modules.builtin", d.builtinText, "built-in module list of the kernel")
		emit("modules.builtin.bin", BuiltinIndex(d.builtinText), why)
	}
	if d.modinfoText != nil {
		emit("modules.builtin.modinfo", d.modinfoText, "modinfo of the kernel's built-in modules")
		if x, n := BuiltinAliasIndex(d.modinfoText); n > 0 {
			emit("modules.builtin.alias.bin", x, why)
		}
	}

	if len(r.opts.Load) > 0 {
		var conf bytes.Buffer
		conf.WriteString("# Modules loaded at boot, written by mkinitrd-ng.\n")
		seen := map[string]bool{}
		for _, n := range r.opts.Load {
			if !seen[n] {
				seen[n] = true
				conf.WriteString(n + "\n")
			}
		}
		out = append(out, Generated{Path: ModulesLoadConf, Data: conf.Bytes(), Why: "modules to load at boot (manifest)"})
	}
	sortGenerated(out)
	if len(errs) > 0 {
		return out, joinSorted(errs)
	}
	return out, nil
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
		mod, rest, ok := strings.Cut(string(kv), ".")
		if !ok || mod == "" {
			continue
		}
		val, ok := strings.CutPrefix(rest, "alias=")
		if !ok || val == "" {
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
