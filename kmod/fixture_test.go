package kmod

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// fakeModule is a module of a synthetic tree: an ELF object compiled at
// test time whose .modinfo section holds info, compressed by the tool
// named by the suffix of rel (.xz, .zst, .gz).
type fakeModule struct {
	rel  string // relative to lib/modules/VER
	info []string
}

// cString quotes s as a C string literal.
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// buildModules compiles the modules into root/lib/modules/ver with one
// gcc run, then compresses those that ask for it. It returns the
// uncompressed contents of each module by rel.
func buildModules(t testing.TB, root, ver string, mods []fakeModule) map[string][]byte {
	t.Helper()
	src := t.TempDir()
	var args []string
	for i, m := range mods {
		var c strings.Builder
		fmt.Fprintf(&c, "int fake_init_%d(void) { return %d; }\n", i, i)
		for j, kv := range m.info {
			fmt.Fprintf(&c, "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char mi_%d[] = %s;\n", j, cString(kv))
		}
		name := filepath.Join(src, fmt.Sprintf("m%d.c", i))
		must(t, os.WriteFile(name, []byte(c.String()), 0o644))
		args = append(args, name)
	}
	cmd := exec.Command("gcc", append([]string{"-c", "-O0"}, args...)...)
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	plain := map[string][]byte{}
	for i, m := range mods {
		obj := filepath.Join(src, fmt.Sprintf("m%d.o", i))
		data, err := os.ReadFile(obj)
		must(t, err)
		plain[m.rel] = data
		dest := filepath.Join(root, "lib/modules", ver, m.rel)
		must(t, os.MkdirAll(filepath.Dir(dest), 0o755))
		suffix := compression(m.rel)
		if suffix == "" {
			must(t, os.WriteFile(dest, data, 0o644))
			continue
		}
		uncompressed := strings.TrimSuffix(dest, suffix)
		must(t, os.WriteFile(uncompressed, data, 0o644))
		var c *exec.Cmd
		switch suffix {
		case ".xz":
			c = exec.Command("xz", "--check=crc32", "-q", uncompressed)
		case ".zst":
			c = exec.Command("zstd", "-q", "--rm", uncompressed)
		case ".gz":
			c = exec.Command("gzip", "-n", uncompressed)
		}
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c.Args, err, out)
		}
	}
	return plain
}

// writeFiles writes files (path relative to root -> contents).
func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(data), 0o644))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openRoot(t testing.TB, root string) *rootfs.FS {
	t.Helper()
	fsys, err := rootfs.New(root)
	must(t, err)
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// fakeVersion is the newest kernel of the synthetic tree; 6.1.0-9 is
// older despite sorting after it as a string.
const fakeVersion = "6.1.0-10"

// fakeTree builds a synthetic root with two kernel versions, modules of
// every compression, aliases with globs, soft dependencies from every
// source, built-in modules, a modprobe.d file and firmware. It returns
// the root and the uncompressed module contents by rel.
//
// The tree is built once per test run (gcc is the slow part) and shared:
// tests only read it.
func fakeTree(t testing.TB) (string, map[string][]byte) {
	t.Helper()
	fake.once.Do(func() {
		dir, err := os.MkdirTemp("", "kmod-fake-")
		must(t, err)
		fake.root = dir
		fake.plain = buildFakeTree(t, dir)
		fake.ok = true
	})
	if !fake.ok {
		t.Fatal("building the synthetic tree failed")
	}
	return fake.root, fake.plain
}

// fake is the shared synthetic tree; TestMain removes it.
var fake struct {
	once  sync.Once
	ok    bool
	root  string
	plain map[string][]byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fake.root != "" {
		os.RemoveAll(fake.root)
	}
	os.Exit(code)
}

func buildFakeTree(t testing.TB, root string) map[string][]byte {
	mods := []fakeModule{
		{"kernel/fs/foo/foo.ko", []string{"alias=fs-foo", "softdep=pre: bar-alias post: baz-mod", "firmware=foo/fw.bin", "firmware=foo/xzonly.bin", "firmware=foo/missing.bin", "license=GPL"}},
		{"kernel/lib/common.ko", []string{"license=GPL"}},
		{"kernel/lib/bar.ko.xz", []string{"alias=bar-alias", "firmware=bar/wild-*.bin"}},
		{"kernel/lib/baz-mod.ko.zst", []string{"alias=crypto-thing", "weakdep=weak_one"}},
		{"kernel/lib/qux.ko.gz", []string{"alias=crypto-thing"}},
		{"kernel/lib/weak_one.ko", nil},
		{"kernel/drivers/dev-one.ko", []string{"alias=pci:v00008086d*sv*"}},
		{"kernel/drivers/soft-src.ko", nil},
		{"kernel/drivers/unused.ko", []string{"alias=char-major-10-229", "alias=devname:unused"}},
		{"kernel/drivers/bad-softdep.ko", []string{"softdep=pre: no-such-module"}},
	}
	plain := buildModules(t, root, fakeVersion, mods)
	dir := "lib/modules/" + fakeVersion + "/"
	writeFiles(t, root, map[string]string{
		dir + "modules.dep": `kernel/fs/foo/foo.ko: kernel/lib/common.ko
kernel/lib/common.ko:
kernel/lib/bar.ko.xz:
kernel/lib/baz-mod.ko.zst:
kernel/lib/qux.ko.gz:
kernel/lib/weak_one.ko:
kernel/drivers/dev-one.ko: kernel/lib/common.ko
kernel/drivers/soft-src.ko:
kernel/drivers/unused.ko:
kernel/drivers/bad-softdep.ko:
`,
		dir + "modules.order": `kernel/lib/common.ko
kernel/fs/foo/foo.ko
kernel/lib/bar.ko
kernel/lib/baz-mod.ko
kernel/lib/qux.ko
kernel/lib/weak_one.ko
kernel/drivers/dev-one.ko
kernel/drivers/soft-src.ko
kernel/drivers/unused.ko
kernel/drivers/bad-softdep.ko
`,
		dir + "modules.alias": aliasHeader + `alias fs-foo foo
alias bar-alias bar
alias crypto-thing baz_mod
alias crypto-thing qux
alias pci:v00008086d*sv* dev_one
alias char-major-10-229 unused
alias devname:unused unused
`,
		dir + "modules.softdep": softdepHeader + `softdep foo pre: bar-alias post: baz-mod
softdep soft_src post: qux
softdep bad_softdep pre: no-such-module
`,
		dir + "modules.symbols": symbolsHeader + `alias symbol:common_fn common
alias symbol:unused_fn unused
`,
		dir + "modules.devname":         devnameHeader + "unused unused c10:229\n",
		dir + "modules.builtin":         "kernel/fs/ext9/ext9.ko\nkernel/drivers/bi-mod.ko\n",
		dir + "modules.builtin.modinfo": "ext9.description=built in\x00bi_mod.alias=bi-alias\x00bi_mod.alias=pci:v0000BEEFd*\x00",
		// An older kernel that version-sorts first and string-sorts last.
		"lib/modules/6.1.0-9/modules.dep": "kernel/old.ko:\n",
		// A directory without modules.dep is no kernel version.
		"lib/modules/6.1.0-11/extra/x.ko": "",
		"etc/modprobe.d/local.conf":       "# local\nalias my-alias unused\nsoftdep unused pre: \\\n  common\noptions foo bar=1\n",
		"lib/modprobe.d/local.conf":       "alias hidden-by-etc weak_one\n",
		"lib/modprobe.d/other.conf":       "blacklist nothing\n",
		"lib/firmware/foo/fw.bin":         "base firmware",
		"lib/firmware/updates/foo/fw.bin": "updated firmware",
		"lib/firmware/foo/xzonly.bin.xz":  "pretend xz",
		"lib/firmware/bar/wild-1.bin":     "w1",
		"lib/firmware/bar/wild-2.bin.zst": "w2",
		"lib/firmware/bar/other.bin":      "no",
	})
	return plain
}
