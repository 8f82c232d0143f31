package tests

import (
	"crypto/sha256"
	"debug/elf"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This file builds a Nix-style store under a temporary root from this
// host's files: store paths named /nix/store/<hash>-<name>, programs and
// libraries copied in and patchelf'ed so that their interpreter and
// RUNPATH name store paths, as Nix's fixup phase leaves them.

// nixBase32 is Nix's base-32 alphabet: digits and letters without e, o,
// u and t.
const nixBase32 = "0123456789abcdfghijklmnpqrsvwxyz"

// nixHash returns a 32-character store hash derived from name, so that a
// fixture's store paths are the same on every run.
func nixHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	var b strings.Builder
	// 32 characters of 5 bits take the first 160 bits of the digest.
	for i := 0; i < 32; i++ {
		bit := i * 5
		v := (uint(sum[bit/8])<<8 | uint(sum[bit/8+1])) >> (11 - bit%8) & 31
		b.WriteByte(nixBase32[v])
	}
	return b.String()
}

// storeLib says where a library of this host goes in the store: the
// package it belongs to and the directory in it.
type storeLib struct {
	prefix, pkg, dir string
}

// storeLibs places the libraries the fixture's programs need; a library
// not listed gets a package of its own named after it, as most do in
// nixpkgs.
var storeLibs = []storeLib{
	{"ld-linux-x86-64.so.", "glibc-2.36", "lib"},
	{"libc.so.", "glibc-2.36", "lib"},
	{"libm.so.", "glibc-2.36", "lib"},
	// NixOS keeps systemd's private libraries beside its programs.
	{"libsystemd-shared-", "systemd-252", "lib/systemd"},
	{"libsystemd-core-", "systemd-252", "lib/systemd"},
	{"libmount.so.", "util-linux-2.38.1-lib", "lib"},
	{"libblkid.so.", "util-linux-2.38.1-lib", "lib"},
	{"libuuid.so.", "util-linux-2.38.1-lib", "lib"},
	{"libext2fs.so.", "e2fsprogs-1.47.0", "lib"},
	{"libcom_err.so.", "e2fsprogs-1.47.0", "lib"},
	{"libe2p.so.", "e2fsprogs-1.47.0", "lib"},
	{"libkmod.so.", "kmod-30-lib", "lib"},
}

// hostLibDirs are where this host keeps the libraries copied into the
// store.
var hostLibDirs = []string{"/usr/lib/x86_64-linux-gnu/systemd", "/usr/lib/x86_64-linux-gnu"}

// nixStore is a store being built under root.
type nixStore struct {
	t    *testing.T
	root string
	// libDir maps a soname to the store directory that holds it.
	libDir map[string]string
	// noRunpathFor lists, per library soname, the sonames its RUNPATH
	// leaves out: they come from the loading program's context.
	noRunpathFor map[string][]string
}

func newNixStore(t *testing.T, root string) *nixStore {
	return &nixStore{t: t, root: root, libDir: map[string]string{}, noRunpathFor: map[string][]string{}}
}

// path returns the store path of a package name.
func (s *nixStore) path(name string) string {
	return "/nix/store/" + nixHash(name) + "-" + name
}

// real returns where the store path p lies on this machine.
func (s *nixStore) real(p string) string {
	return filepath.Join(s.root, p)
}

// write creates the file p of the store with this content and mode.
func (s *nixStore) write(p, content string, mode os.FileMode) {
	s.t.Helper()
	full := s.real(p)
	must(s.t, os.MkdirAll(filepath.Dir(full), 0o755))
	must(s.t, os.WriteFile(full, []byte(content), mode))
}

// symlink creates p as a symlink with this text.
func (s *nixStore) symlink(p, target string) {
	s.t.Helper()
	full := s.real(p)
	must(s.t, os.MkdirAll(filepath.Dir(full), 0o755))
	must(s.t, os.Symlink(target, full))
}

// copyIn copies the host file src to the store path dst.
func (s *nixStore) copyIn(src, dst string, mode os.FileMode) {
	s.t.Helper()
	data, err := os.ReadFile(src)
	must(s.t, err)
	s.write(dst, string(data), mode)
}

// glibc returns the store directory of the C library and loader.
func (s *nixStore) glibc() string { return s.path("glibc-2.36") + "/lib" }

// interpreter is the loader every program of the store names.
func (s *nixStore) interpreter() string { return s.glibc() + "/ld-linux-x86-64.so.2" }

// addProgram copies the host program src to dst with the libraries it
// needs, and points its interpreter and RUNPATH into the store.
func (s *nixStore) addProgram(src, dst string) {
	s.t.Helper()
	s.copyIn(src, dst, 0o755)
	rpath := s.addNeeded(src, nil)
	mustRun(s.t, "patchelf", "--set-interpreter", s.interpreter(), "--set-rpath", rpath, s.real(dst))
}

// addNeeded adds the libraries the ELF file src needs, except those
// named in skip, and returns the RUNPATH that finds them.
func (s *nixStore) addNeeded(src string, skip []string) string {
	s.t.Helper()
	var dirs []string
	for _, soname := range elfNeeded(s.t, src) {
		dir := s.addLib(soname)
		if !contains(skip, soname) && !contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return strings.Join(dirs, ":")
}

// addLib adds the host library soname, with its own dependencies, and
// returns the store directory that holds it. A versioned file behind a
// soname symlink is copied under its own name, the soname linking to it,
// as library packages install them.
func (s *nixStore) addLib(soname string) string {
	s.t.Helper()
	if dir, ok := s.libDir[soname]; ok {
		return dir
	}
	host := hostLib(s.t, soname)
	pkg, sub := libPlace(soname)
	dir := s.path(pkg) + "/" + sub
	s.libDir[soname] = dir
	real, err := filepath.EvalSymlinks(host)
	must(s.t, err)
	file := dir + "/" + filepath.Base(real)
	if filepath.Base(real) != soname {
		s.symlink(dir+"/"+soname, filepath.Base(real))
	}
	s.copyIn(real, file, 0o755)
	if pkg == "glibc-2.36" {
		// glibc's libraries find each other through the loader, which
		// has loaded them by the time any of them is needed.
		return dir
	}
	rpath := s.addNeeded(real, s.noRunpathFor[soname])
	mustRun(s.t, "patchelf", "--set-rpath", rpath, s.real(file))
	return dir
}

// libPlace returns the package and directory of a library's store path.
func libPlace(soname string) (pkg, dir string) {
	for _, l := range storeLibs {
		if strings.HasPrefix(soname, l.prefix) {
			return l.pkg, l.dir
		}
	}
	return strings.SplitN(soname, ".so", 2)[0], "lib"
}

// hostLib finds a library of this host by soname.
func hostLib(t *testing.T, soname string) string {
	t.Helper()
	for _, dir := range hostLibDirs {
		p := filepath.Join(dir, soname)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no %s in %v", soname, hostLibDirs)
	return ""
}

// elfNeeded returns the DT_NEEDED entries of an ELF file.
func elfNeeded(t *testing.T, p string) []string {
	t.Helper()
	f, err := elf.Open(p)
	must(t, err)
	defer f.Close()
	libs, err := f.ImportedLibraries()
	must(t, err)
	return libs
}

// seal makes the store read-only as Nix leaves it (directories 0555,
// files 0444 or 0555), and gives write permission back when the test
// ends so that its directory can be removed.
func (s *nixStore) seal() {
	s.t.Helper()
	store := s.real("/nix/store")
	chmodTree(s.t, store, func(mode fs.FileMode) fs.FileMode { return mode &^ 0o222 })
	s.t.Cleanup(func() {
		chmodTree(s.t, store, func(mode fs.FileMode) fs.FileMode { return mode | 0o200 })
	})
}

// chmodTree changes the permissions of every directory and file under
// dir, symlinks excepted. Removing write permission stops nothing here:
// the walk needs only read and search permission.
func chmodTree(t *testing.T, dir string, change func(fs.FileMode) fs.FileMode) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(p, change(info.Mode().Perm()))
	})
	must(t, err)
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
