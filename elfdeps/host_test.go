package elfdeps

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// lddObjects runs ldd (the host's ld.so in trace mode, a test oracle
// only) and returns, for each object it loads, the name asked for (the
// interpreter by its path) and the path found.
func lddObjects(t *testing.T, prog string) map[string]string {
	t.Helper()
	out, err := exec.Command("ldd", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd %s: %v\n%s", prog, err, out)
	}
	objs := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "linux-vdso") || line == "" {
			continue
		}
		if strings.Contains(line, "not found") {
			t.Fatalf("ldd %s: %s", prog, line)
		}
		name, found, ok := strings.Cut(line, " => ")
		if !ok {
			name, _, _ = strings.Cut(line, " (")
			found = name
		} else {
			found, _, _ = strings.Cut(found, " (")
		}
		objs[name] = found
	}
	return objs
}

// TestHostAgainstLdd resolves real programs of this machine with root "/"
// and compares with what the host's ld.so loads.
func TestHostAgainstLdd(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd on this host")
	}
	const systemd = "/usr/lib/systemd/systemd"
	progs := []string{systemd}
	for _, pattern := range []string{"/usr/lib/systemd/systemd-*", "/usr/bin/ls", "/usr/bin/mount", "/usr/bin/kmod", "/usr/bin/gpg", "/usr/bin/python3*"} {
		m, _ := filepath.Glob(pattern)
		progs = append(progs, m...)
	}
	fsys, err := rootfs.New("/")
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	l, err := NewLoader(fsys)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, prog := range progs {
		if fi, err := os.Stat(prog); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			if prog == systemd {
				t.Skipf("host has no %s", systemd)
			}
			continue
		}
		if f, err := l.File(prog); err != nil || f.Interp == "" {
			continue // scripts, static programs
		}
		checked++
		t.Run(strings.TrimPrefix(prog, "/"), func(t *testing.T) {
			want := lddObjects(t, prog)
			objs, err := l.Process(prog, DlopenPolicy{})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			got := make(map[string]string)
			for _, o := range objs[1:] {
				got[o.Name] = o.Path
			}
			var gotNames, wantNames []string
			for n := range got {
				gotNames = append(gotNames, n)
			}
			for n := range want {
				wantNames = append(wantNames, n)
			}
			slices.Sort(gotNames)
			slices.Sort(wantNames)
			if !slices.Equal(gotNames, wantNames) {
				t.Fatalf("names:\n got %q\nwant %q", gotNames, wantNames)
			}
			for name, p := range got {
				if !sameFile(p, want[name]) {
					t.Errorf("%s: found %s, ldd %s", name, p, want[name])
				}
			}
			if prog == systemd {
				// Debian's libsystemd-core has no RUNPATH and finds
				// libsystemd-shared only in the program's context.
				for _, prefix := range []string{"libsystemd-core-", "libsystemd-shared-", "libc.so.", "/lib64/ld-linux"} {
					if !slices.ContainsFunc(gotNames, func(n string) bool { return strings.HasPrefix(n, prefix) }) {
						t.Errorf("no %s* among %q", prefix, gotNames)
					}
				}
			}
		})
	}
	if checked < 2 {
		t.Errorf("only %d host programs checked", checked)
	}
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
