package cpiogen

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	spec := `# A simple initramfs
dir /dev 0755 0 0

nod /dev/console 0600 0 5 c 5 1
	nod	/dev/sda 0660 0 6 b 8 0   # trailing comment
  # indented comment
slink /bin busybox 0777 0 0
file /init ${SRC}/init.sh 0755 0 0
file /sbin/busybox ${SRC}/${BB} 04755 1 2 /bin/sh /usr/bin/sh
pipe /run/fifo 0600 0 0
sock /run/sock 0666 0 0
dir . 040700 0 0
`
	env := map[string]string{"SRC": "/src", "BB": "bb"}
	got, err := ParseSpec(strings.NewReader(spec), func(k string) string { return env[k] })
	must(t, err)
	want := []SpecEntry{
		{Line: 2, Header: Header{Name: "dev", Mode: TypeDir | 0o755, NLink: 2}},
		{Line: 4, Header: Header{Name: "dev/console", Mode: TypeChar | 0o600, GID: 5, NLink: 1, RDevMajor: 5, RDevMinor: 1}},
		{Line: 5, Header: Header{Name: "dev/sda", Mode: TypeBlock | 0o660, GID: 6, NLink: 1, RDevMajor: 8}},
		{Line: 7, Header: Header{Name: "bin", Mode: TypeSymlink | 0o777, NLink: 1, Linkname: "busybox"}},
		{Line: 8, Header: Header{Name: "init", Mode: TypeReg | 0o755, NLink: 1}, Source: "/src/init.sh"},
		{Line: 9, Header: Header{Name: "sbin/busybox", Mode: TypeReg | 0o4755, UID: 1, GID: 2, NLink: 3},
			Source: "/src/bb", Links: []string{"bin/sh", "usr/bin/sh"}},
		{Line: 10, Header: Header{Name: "run/fifo", Mode: TypeFIFO | 0o600, NLink: 2}},
		{Line: 11, Header: Header{Name: "run/sock", Mode: TypeSocket | 0o666, NLink: 2}},
		{Line: 12, Header: Header{Name: ".", Mode: TypeDir | 0o700, NLink: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	// FormatSpec writes what ParseSpec reads back.
	var buf bytes.Buffer
	must(t, FormatSpec(&buf, got))
	again, err := ParseSpec(&buf, nil)
	must(t, err)
	for i := range again {
		again[i].Line = got[i].Line
	}
	if !reflect.DeepEqual(again, got) {
		t.Errorf("FormatSpec round trip:\n%s\ngave %+v", buf.String(), again)
	}
	if err := FormatSpec(&buf, []SpecEntry{{Header: Header{Name: "a b", Mode: TypeDir}}}); err == nil {
		t.Error("FormatSpec accepted a name with a space")
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"fil /x 0644 0 0", `unknown type "fil"`},
		{"dir /x 0755 0", "dir: 3 fields, want 4"},
		{"dir /x 0755 0 0 extra", "dir: 5 fields, want 4"},
		{"file /x /src 0644 0", "file: 4 fields, want 5"},
		{"dir /x 0855 0 0", `mode "0855" is not octal`},
		{"dir /x 0100755 0 0", "not a directory's permission bits"},
		{"dir /x 0170000 0 0", "not a directory's permission bits"},
		{"dir /x 0755 -1 0", `uid "-1" is not a non-negative number`},
		{"pipe /x 0755 0 g", `gid "g" is not a non-negative number`},
		{"nod /x 0600 0 0 x 1 1", `device type "x", want b or c`},
		{"nod /x 0600 0 0 c 1 -1", `minor "-1"`},
	}
	for _, tt := range tests {
		_, err := ParseSpec(strings.NewReader("dir /ok 0755 0 0\n"+tt.line+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "spec line 2: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want line 2 and %q", tt.line, err, tt.want)
		}
	}
	// Every bad line is reported, not just the first.
	_, err := ParseSpec(strings.NewReader("bad 1\ndir /ok 0755 0 0\nworse 2\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "spec line 1:") || !strings.Contains(err.Error(), "spec line 3:") {
		t.Errorf("two bad lines: %v", err)
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "x", "LONG_NAME": "/path"}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"${A}", "x"},
		{"${A}${A}/${LONG_NAME}", "xx//path"},
		{"${UNSET}/f", "/f"},
		{"$A/${A", "$A/${A"},
		{"a${A}b}", "axb}"},
	}
	for _, tt := range tests {
		if got := expandEnv(tt.in, func(k string) string { return env[k] }); got != tt.want {
			t.Errorf("expandEnv(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func openHost(p string) (fs.File, error) { return os.Open(p) }

// TestWriteSpecGolden builds TestGolden's archive from its gen_init_cpio
// spec.
func TestWriteSpecGolden(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "init"), []byte("#!\n"), 0o600))
	spec := "dir /dev 0755 0 0\nnod /dev/console 0600 0 5 c 5 1\nslink /bin busybox 0777 0 0\nfile /init ${D}/init 0755 0 0\n"
	entries, err := ParseSpec(strings.NewReader(spec), func(string) string { return dir })
	must(t, err)
	for _, csum := range []bool{false, true} {
		var buf bytes.Buffer
		w := NewWriter(&buf, WithChecksum(csum))
		must(t, WriteSpec(w, entries, SpecWriteOptions{Open: openHost, MTime: 1000}))
		must(t, w.Close())
		if got := buf.String(); got != goldenArchive(csum) {
			t.Errorf("checksum=%v:\n got %q\nwant %q", csum, got, goldenArchive(csum))
		}
	}
}

// TestWriteSpecHardLinks checks gen_init_cpio's layout of a file with
// extra names: one inode, nlink = names, data and checksum on the last.
func TestWriteSpecHardLinks(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bb")
	must(t, os.WriteFile(src, []byte("busybox!"), 0o600))
	mtime := time.Unix(1600000000, 0)
	must(t, os.Chtimes(src, mtime, mtime))
	entries, err := ParseSpec(strings.NewReader("dir /bin 0755 0 0\nfile /bin/busybox "+src+" 0755 0 0 /bin/sh /bin/ls\nfile /x "+src+" 0644 0 0\n"), nil)
	must(t, err)
	var buf bytes.Buffer
	w := NewWriter(&buf, WithChecksum(true))
	must(t, WriteSpec(w, entries, SpecWriteOptions{Open: openHost, MTime: 5, FileMTimes: true}))
	must(t, w.Close())
	recs := parseRaw(t, buf.Bytes())
	sum := sumBytes(0, []byte("busybox!"))
	for i, want := range []struct {
		name             string
		ino, nlink, size uint32
		check, mtime     uint32
	}{
		{"bin", 721, 2, 0, 0, 5},
		{"bin/busybox", 722, 3, 0, 0, 1600000000},
		{"bin/sh", 722, 3, 0, 0, 1600000000},
		{"bin/ls", 722, 3, 8, sum, 1600000000},
		{"x", 723, 1, 8, sum, 1600000000},
	} {
		r := recs[i]
		if string(r.name) != want.name+"\x00" || r.f[0] != want.ino || r.f[4] != want.nlink ||
			r.f[6] != want.size || r.f[12] != want.check || r.f[5] != want.mtime {
			t.Errorf("record %d: %q ino %d nlink %d size %d check %#x mtime %d; want %+v",
				i, r.name, r.f[0], r.f[4], r.f[6], r.f[12], r.f[5], want)
		}
	}
	if string(recs[3].data) != "busybox!" {
		t.Errorf("data on the last link: %q", recs[3].data)
	}
}

func TestWriteSpecErrors(t *testing.T) {
	dir := t.TempDir()
	entries, err := ParseSpec(strings.NewReader("dir /d 0755 0 0\nfile /f "+dir+" 0644 0 0\n"), nil)
	must(t, err)
	w := NewWriter(&bytes.Buffer{})
	if err := WriteSpec(w, entries, SpecWriteOptions{}); err == nil {
		t.Error("WriteSpec without Open succeeded")
	}
	err = WriteSpec(w, entries, SpecWriteOptions{Open: openHost})
	if err == nil || !strings.Contains(err.Error(), "spec line 2: f: ") || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as a file's source: %v", err)
	}
	entries[1].Source = filepath.Join(dir, "missing")
	if err := WriteSpec(NewWriter(&bytes.Buffer{}), entries, SpecWriteOptions{Open: openHost}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
}
