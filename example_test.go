package mkinitrd_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mkinitrd-ng/mkinitrd-ng"
	"github.com/mkinitrd-ng/mkinitrd-ng/compressors"
	"github.com/mkinitrd-ng/mkinitrd-ng/cpiogen"
	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
)

// exampleRoot makes a tiny source tree: /etc/os-release is a symlink to
// /usr/lib/os-release, as on most distributions.
func exampleRoot() string {
	root, err := os.MkdirTemp("", "mkinitrd-example")
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range []string{"etc", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			log.Fatal(err)
		}
	}
	release := filepath.Join(root, "usr/lib/os-release")
	if err := os.WriteFile(release, []byte("ID=example\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	// Modes are part of the archive: do not let the umask decide them.
	if err := os.Chmod(release, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
		log.Fatal(err)
	}
	return root
}

// list prints the entries of an uncompressed newc archive.
func list(r io.Reader) {
	cr := cpiogen.NewReader(r)
	for {
		h, err := cr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		line := fmt.Sprintf("%-10v %d:%d %s", h.FileMode(), h.UID, h.GID, h.Name)
		if h.Linkname != "" {
			line += " -> " + h.Linkname
		} else if h.FileMode().IsRegular() {
			line += fmt.Sprintf(" (%d bytes)", h.Size)
		}
		fmt.Println(line)
	}
}

// Build an initrd in memory from a manifest written in Go, then list it.
// The source /etc/os-release is a symlink: the archive keeps it as one
// and adds its target, and every missing parent directory.
func Example() {
	root := exampleRoot()
	defer os.RemoveAll(root)

	hostname := "initrd\n"
	m := &resolve.Manifest{
		Root:     root,
		Compress: resolve.Command{Name: "none"},
		Contents: []resolve.Content{
			{Source: "/etc/os-release"},
			{Target: "/etc/hostname", Text: &hostname},
		},
	}
	var buf bytes.Buffer
	res, err := mkinitrd.Build(context.Background(), &buf, m, mkinitrd.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d entries, %d bytes (%s)\n", len(res.Closure.Entries), res.Written, res.Compressor)
	list(&buf)
	// Output:
	// 6 entries, 1024 bytes (none)
	// drwxr-xr-x 0:0 etc
	// -rw-r--r-- 0:0 etc/hostname (7 bytes)
	// Lrwxrwxrwx 0:0 etc/os-release -> ../usr/lib/os-release
	// drwxr-xr-x 0:0 usr
	// drwxr-xr-x 0:0 usr/lib
	// -rw-r--r-- 0:0 usr/lib/os-release (11 bytes)
}

// Resolve decides everything an initrd holds before a byte is written:
// this is what mkinitrd-ng --dry-run prints. Each entry's Why (and the
// closure's Chain) says what pulled it in.
func ExampleResolve() {
	root := exampleRoot()
	defer os.RemoveAll(root)

	m, err := resolve.ParseManifest(strings.NewReader(`{"contents": [{"source": "/etc/os-release"}]}`), "initrd.json")
	if err != nil {
		log.Fatal(err)
	}
	c, err := mkinitrd.Resolve(m, mkinitrd.Options{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range c.Entries {
		fmt.Println(e.String())
	}
	// Output:
	// dir     0755 0:0 /etc
	// symlink 0777 0:0 /etc/os-release -> ../usr/lib/os-release
	// dir     0755 0:0 /usr
	// dir     0755 0:0 /usr/lib
	// file    0644 0:0 /usr/lib/os-release
}

// List an initrd file, whatever its compression: Detect names the format
// from the first bytes, as the kernel does.
func Example_list() {
	root := exampleRoot()
	defer os.RemoveAll(root)
	img := filepath.Join(root, "initrd.img")

	// Build a zstd image to list.
	m := &resolve.Manifest{Root: root, Contents: []resolve.Content{{Source: "/usr/lib/os-release"}}}
	zstd, err := compressors.Lookup("zstd", 0)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := mkinitrd.Build(context.Background(), f, m, mkinitrd.Options{Compressor: zstd}); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}

	f, err = os.Open(img)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(compressors.DetectLen)
	format := compressors.Detect(magic)
	r, err := compressors.NewReader(format, br)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println("format:", format)
	list(r)
	// Output:
	// format: zstd
	// drwxr-xr-x 0:0 usr
	// drwxr-xr-x 0:0 usr/lib
	// -rw-r--r-- 0:0 usr/lib/os-release (11 bytes)
}

// Add an entry that comes from neither the manifest nor the source tree,
// here a file generated at build time: resolve, append to the closure,
// keep it sorted (parents before children, reproducible order), and write
// the archive through a compressor.
func ExampleWriteArchive() {
	root := exampleRoot()
	defer os.RemoveAll(root)

	m := &resolve.Manifest{Root: root, Contents: []resolve.Content{{Source: "/etc/os-release"}}}
	opts := mkinitrd.Options{}
	c, err := mkinitrd.Resolve(m, opts)
	if err != nil {
		log.Fatal(err)
	}
	info := []byte("built by example\n")
	c.Entries = append(c.Entries, resolve.Entry{
		Path: "/etc/build-info", Kind: resolve.File, Mode: 0o644,
		Data: info, Size: int64(len(info)), Why: "generated",
	})
	slices.SortFunc(c.Entries, func(a, b resolve.Entry) int { return strings.Compare(a.Path, b.Path) })

	fsys, err := mkinitrd.OpenRoot(m, opts) // file contents are read from here
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	gz, err := compressors.Lookup("gzip", 9)
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := gz.NewWriter(&buf)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := mkinitrd.WriteArchive(context.Background(), w, c, fsys, 0); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := compressors.NewReader(compressors.Detect(buf.Bytes()), &buf)
	if err != nil {
		log.Fatal(err)
	}
	list(r)
	// Output:
	// drwxr-xr-x 0:0 etc
	// -rw-r--r-- 0:0 etc/build-info (17 bytes)
	// Lrwxrwxrwx 0:0 etc/os-release -> ../usr/lib/os-release
	// drwxr-xr-x 0:0 usr
	// drwxr-xr-x 0:0 usr/lib
	// -rw-r--r-- 0:0 usr/lib/os-release (11 bytes)
}
