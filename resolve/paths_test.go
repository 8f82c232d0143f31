package resolve

import (
	"reflect"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// TestResolvePathMatchesRootfs: remembering directories changes nothing
// rootfs.Resolve would say, for plain files, links at every place,
// missing and dangling paths and loops.
func TestResolvePathMatchesRootfs(t *testing.T) {
	tr := newTree(t)
	tr.write("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc", 0o644)
	tr.symlink("/lib", "usr/lib")
	tr.symlink("/usr/lib/x86_64-linux-gnu/libc.so", "libc.so.6")
	tr.symlink("/usr/lib/abs", "/usr/lib/x86_64-linux-gnu")
	tr.symlink("/usr/lib/dangling", "/nowhere/file")
	tr.symlink("/usr/lib/loop", "loop")
	fsys, err := rootfs.New(tr.root)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	r := &resolver{fs: fsys}
	for _, p := range []string{
		"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so", "/lib/abs/libc.so",
		"/usr/lib/abs/../x86_64-linux-gnu/libc.so.6", "/lib/missing", "/missing/dir/file",
		"/usr/lib/dangling", "/usr/lib/loop", "/usr/lib/loop/x", "/", "/lib",
	} {
		for i := 0; i < 2; i++ { // the second time from the remembered directory
			f1, l1, e1 := r.resolvePath(p)
			f2, l2, e2 := fsys.Resolve(p)
			if f1 != f2 || !reflect.DeepEqual(l1, l2) || (e1 == nil) != (e2 == nil) {
				t.Errorf("resolvePath(%s) = %q %v %v; rootfs.Resolve = %q %v %v", p, f1, l1, e1, f2, l2, e2)
			}
		}
	}
}
