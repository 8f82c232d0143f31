package units

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
	"golang.org/x/sys/unix"
)

const (
	lib = "/lib/systemd/system/"
	etc = "/etc/systemd/system/"
)

// tree writes a root for a test. A value "-> x" makes a symlink to x; a
// value starting "noexec:" a file with mode 0644 (the rest is its text);
// any other value a file with mode 0755.
func tree(t *testing.T, files map[string]string) *rootfs.FS {
	t.Helper()
	root := t.TempDir()
	for p, v := range files {
		host := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(v, "-> "):
			err = os.Symlink(v[3:], host)
		case strings.HasPrefix(v, "noexec:"):
			err = os.WriteFile(host, []byte(v[7:]), 0o644)
		default:
			err = os.WriteFile(host, []byte(v), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := rootfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// with adds files to a base set.
func with(base map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// base is the part of a root most tests need: the targets default
// dependencies pull in and a few executables.
var base = map[string]string{
	lib + "sysinit.target": "[Unit]\nDescription=System Initialization\n",
	"/usr/bin/true":        "",
	"/usr/bin/systemctl":   "",
}

func closure(t *testing.T, fsys *rootfs.FS, names []string, opts Options) *Result {
	t.Helper()
	r, err := Closure(fsys, names, opts)
	if err != nil {
		t.Fatalf("Closure(%q): %v", names, err)
	}
	return r
}

func itemPaths(r *Result) []string {
	var out []string
	for _, it := range r.Items {
		out = append(out, it.Path)
	}
	return out
}

func execPaths(r *Result) []string {
	var out []string
	for _, e := range r.Execs {
		out = append(out, e.Path)
	}
	return out
}

func wantSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	w := append([]string(nil), want...)
	sort.Strings(w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, w)
	}
}

func hasWarning(r *Result, parts ...string) bool {
	for _, w := range r.Warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestClosureDependencies(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "a.target": `[Unit]
Wants=b.service c.service
Requires=d.target
Requisite=e.target
BindsTo=f.target
Upholds=g.target
OnFailure=h.target
OnSuccess=i.target
# ordering and reverse dependencies pull in nothing
After=x1.target
Before=x2.target
PartOf=x3.target
Conflicts=x4.target
Wants=
[Install]
WantedBy=x5.target
RequiredBy=x6.target
Also=x7.target
`,
		lib + "b.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
		lib + "c.service": "[Service]\nExecStart=/usr/bin/true\n",
		lib + "d.target":  "", lib + "e.target": "[Unit]\n", lib + "f.target": "[Unit]\n",
		lib + "g.target": "[Unit]\n", lib + "h.target": "[Unit]\n", lib + "i.target": "[Unit]\n",
		lib + "x1.target": "[Unit]\n", lib + "x5.target": "[Unit]\n",
	}))
	r := closure(t, fsys, []string{"a.target"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{
		lib + "a.target", lib + "b.service", lib + "c.service", lib + "d.target", lib + "e.target",
		lib + "f.target", lib + "g.target", lib + "h.target", lib + "i.target",
		lib + "sysinit.target", // DefaultDependencies= of c.service
	})
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %q", r.Warnings)
	}
	for _, it := range r.Items {
		want := map[string]string{
			lib + "a.target":       "unit a.target",
			lib + "c.service":      "Wants= of a.target",
			lib + "h.target":       "OnFailure= of a.target",
			lib + "sysinit.target": "Requires= (DefaultDependencies=yes) of c.service",
		}[it.Path]
		if want != "" && it.Why != want {
			t.Errorf("%s: why %q, want %q", it.Path, it.Why, want)
		}
	}
	wantSet(t, "execs", execPaths(r), []string{"/usr/bin/true"})
}

func TestClosureAliases(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		etc + "dbus-org.freedesktop.x.service":  "-> /lib/systemd/system/x.service",
		lib + "x.service":                       "[Unit]\nWants=y.target\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
		lib + "y.target":                        "[Unit]\n",
		lib + "ctrl-alt-del.target":             "-> reboot.target",
		lib + "reboot.target":                   "[Unit]\nRequires=z.target\n",
		lib + "z.target":                        "[Unit]\n",
		lib + "reboot.target.d/10-x.conf":       "[Unit]\nWants=from-alias-target-dropin.target\n",
		lib + "ctrl-alt-del.target.d/10-y.conf": "[Unit]\nWants=from-alias-dropin.target\n",
		lib + "from-alias-target-dropin.target": "[Unit]\n",
		lib + "from-alias-dropin.target":        "[Unit]\n",
		// A self-alias has no effect: the name is looked up further on.
		etc + "self.target": "-> /lib/systemd/system/self.target",
		lib + "self.target": "[Unit]\n",
		// A masked unit: the link is kept, nothing is read from it.
		etc + "masked.service": "-> /dev/null",
		lib + "masked.service": "[Unit]\nWants=never.target\n",
		lib + "empty.service":  "",
		// An alias must keep the type; this one is ignored.
		lib + "bad.target": "-> x.service",
	}))
	r := closure(t, fsys, []string{"dbus-org.freedesktop.x.service", "ctrl-alt-del.target", "self.target", "masked.service", "empty.service"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{
		etc + "dbus-org.freedesktop.x.service", lib + "x.service", lib + "y.target",
		lib + "ctrl-alt-del.target", lib + "reboot.target", lib + "z.target",
		lib + "reboot.target.d/10-x.conf", lib + "ctrl-alt-del.target.d/10-y.conf",
		lib + "from-alias-target-dropin.target", lib + "from-alias-dropin.target",
		lib + "self.target", etc + "masked.service", lib + "empty.service",
	})
	// Data is what was parsed: a unit file's or drop-in's content, and
	// nothing for a link or a masked unit, which are not read.
	for _, it := range r.Items {
		want, read := map[string]string{
			lib + "x.service":                 "[Unit]\nWants=y.target\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
			lib + "reboot.target.d/10-x.conf": "[Unit]\nWants=from-alias-target-dropin.target\n",
			lib + "z.target":                  "[Unit]\n",
		}[it.Path]
		if read && string(it.Data) != want {
			t.Errorf("%s: Data %q, want %q", it.Path, it.Data, want)
		}
		if link := strings.HasPrefix(it.Path, etc) || it.Path == lib+"ctrl-alt-del.target" || it.Path == lib+"empty.service"; link && it.Data != nil {
			t.Errorf("%s: Data %q, want none (not parsed)", it.Path, it.Data)
		}
	}
	if _, err := Closure(fsys, []string{"bad.target"}, Options{}); err == nil || !strings.Contains(err.Error(), "bad.target not found") {
		t.Errorf("invalid alias: err = %v", err)
	}
}

func TestClosureDropins(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "foo-bar-baz.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/old\n",
		// Same name in two directories: /etc wins.
		lib + "foo-bar-baz.service.d/10-a.conf": "[Unit]\nWants=lib-a.target\n",
		etc + "foo-bar-baz.service.d/10-a.conf": "[Unit]\nWants=etc-a.target\n",
		// Later by name: replaces ExecStart=, which resets the list.
		lib + "foo-bar-baz.service.d/50-exec.conf": "[Service]\nExecStart=\nExecStart=/usr/bin/new\n",
		// Dash prefixes and the type-wide directory.
		lib + "foo-bar-.service.d/20-p.conf": "[Unit]\nWants=prefix2.target\n",
		lib + "foo-.service.d/21-p.conf":     "[Unit]\nWants=prefix1.target\n",
		etc + "service.d/30-t.conf":          "[Unit]\nWants=type.target\n",
		// Masked by name, and files that are not drop-ins.
		lib + "foo-.service.d/40-m.conf":            "[Unit]\nWants=never.target\n",
		etc + "foo-bar-baz.service.d/40-m.conf":     "-> /dev/null",
		lib + "foo-bar-baz.service.d/README":        "[Unit]\nWants=never.target\n",
		lib + "foo-bar-baz.service.d/.hidden.conf":  "[Unit]\nWants=never.target\n",
		lib + "foo-bar-baz.service.d/60-x.conf.bak": "[Unit]\nWants=never.target\n",
		"/usr/bin/new":       "",
		"/usr/bin/other":     "",
		lib + "lib-a.target": "[Unit]\n", lib + "etc-a.target": "[Unit]\n",
		lib + "prefix1.target": "[Unit]\n", lib + "prefix2.target": "[Unit]\n", lib + "type.target": "[Unit]\n",
	}))
	r := closure(t, fsys, []string{"foo-bar-baz.service"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{
		lib + "foo-bar-baz.service",
		etc + "foo-bar-baz.service.d/10-a.conf", lib + "foo-bar-baz.service.d/50-exec.conf",
		lib + "foo-bar-.service.d/20-p.conf", lib + "foo-.service.d/21-p.conf", etc + "service.d/30-t.conf",
		lib + "etc-a.target", lib + "prefix1.target", lib + "prefix2.target", lib + "type.target",
	})
	wantSet(t, "execs", execPaths(r), []string{"/usr/bin/new"})
	for _, it := range r.Items {
		if it.Path == lib+"foo-.service.d/21-p.conf" && it.Why != "drop-in of foo-bar-baz.service" {
			t.Errorf("drop-in why = %q", it.Why)
		}
	}
}

func TestClosureTemplates(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "getty@.service": `[Unit]
DefaultDependencies=no
Wants=dep@%i.service other-%p.target
[Service]
ExecStartPre=/usr/lib/%i/helper %I
ExecStart=-/sbin/agetty -o '-p -- \\u' --noclear %I $TERM
`,
		lib + "getty@.service.d/10-t.conf":     "[Unit]\nWants=template-dropin.target\n",
		lib + "getty@tty1.service.d/10-i.conf": "[Unit]\nWants=instance-dropin.target\n",
		lib + "getty@tty2.service.d/10-i.conf": "[Unit]\nWants=never.target\n",
		lib + "getty@special.service":          "[Unit]\nDefaultDependencies=no\n",
		lib + "dep@.service":                   "[Unit]\nDefaultDependencies=no\n",
		lib + "other-getty.target":             "[Unit]\n",
		lib + "template-dropin.target":         "[Unit]\n",
		lib + "instance-dropin.target":         "[Unit]\n",
		lib + "system-getty.slice":             "[Unit]\nDefaultDependencies=no\n",
		"/usr/lib/tty1/helper":                 "",
		"/sbin/agetty":                         "",
		// An alias of a template serves its instances.
		lib + "autovt@.service": "-> getty@.service",
	}))
	r := closure(t, fsys, []string{"getty@tty1.service", "getty@special.service"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{
		lib + "getty@.service", lib + "getty@.service.d/10-t.conf", lib + "getty@tty1.service.d/10-i.conf",
		lib + "getty@special.service", lib + "dep@.service", lib + "other-getty.target",
		lib + "template-dropin.target", lib + "instance-dropin.target", lib + "system-getty.slice",
	})
	wantSet(t, "execs", execPaths(r), []string{"/sbin/agetty", "/usr/lib/tty1/helper"})
	for _, it := range r.Items {
		if it.Path == lib+"dep@.service" && it.Why != "Wants= of getty@tty1.service" {
			t.Errorf("dep@.service why = %q", it.Why)
		}
	}

	// A template asked for as such: what depends on the instance is not
	// checked, and says so.
	r = closure(t, fsys, []string{"getty@.service"}, Options{})
	wantSet(t, "template items", itemPaths(r), []string{
		lib + "getty@.service", lib + "getty@.service.d/10-t.conf",
		lib + "other-getty.target", lib + "template-dropin.target",
	})
	wantSet(t, "template execs", execPaths(r), []string{"/sbin/agetty"})
	if !hasWarning(r, "ExecStartPre=", "/usr/lib/%i/helper", "needs an instance") || !hasWarning(r, "dep@%i.service", "needs an instance") {
		t.Errorf("warnings: %q", r.Warnings)
	}

	// Specifiers take the name asked for: %p is "autovt" here.
	r = closure(t, fsys, []string{"autovt@tty1.service"}, Options{})
	wantSet(t, "alias items", itemPaths(r), []string{
		lib + "autovt@.service", lib + "getty@.service", lib + "getty@.service.d/10-t.conf",
		lib + "getty@tty1.service.d/10-i.conf", lib + "dep@.service",
		lib + "template-dropin.target", lib + "instance-dropin.target",
	})
	if !hasWarning(r, "other-autovt.target not found") {
		t.Errorf("warnings: %q", r.Warnings)
	}
}

func TestClosureSocketsPathsTimers(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "a.socket":            "[Socket]\nListenStream=/run/a\nExecStartPre=/usr/bin/true\n",
		lib + "a.service":           "[Service]\nExecStart=/usr/bin/a\n",
		lib + "b.socket":            "[Socket]\nListenStream=/run/b\nService=other.service\n",
		lib + "other.service":       "[Service]\nExecStart=/usr/bin/other\n",
		lib + "c.socket":            "[Socket]\nListenStream=/run/c\nAccept=yes\n",
		lib + "c@.service":          "[Service]\nExecStart=-/usr/bin/c-handler %i\nStandardInput=socket\n",
		lib + "c@.service.d/x.conf": "[Unit]\nWants=c-dropin.target\n",
		lib + "c-dropin.target":     "[Unit]\n",
		lib + "t.timer":             "[Timer]\nOnBootSec=1\n",
		lib + "t.service":           "[Service]\nExecStart=/usr/bin/true\n",
		lib + "p.path":              "[Path]\nPathExists=/x\nUnit=q.service\n",
		lib + "q.service":           "[Service]\nExecStart=/usr/bin/true\n",
		lib + "d.service":           "[Unit]\nDefaultDependencies=no\n[Service]\nSockets=d1.socket d2.socket\nType=dbus\nBusName=org.x\nExecStart=/usr/bin/true\n",
		lib + "d1.socket":           "[Unit]\nDefaultDependencies=no\n[Socket]\nService=d.service\n",
		lib + "d2.socket":           "[Unit]\nDefaultDependencies=no\n[Socket]\nService=d.service\n",
		lib + "dbus.socket":         "[Unit]\nDefaultDependencies=no\n[Socket]\nService=d.service\n",
		"/usr/bin/a":                "", "/usr/bin/other": "", "/usr/bin/c-handler": "",
	}))
	r := closure(t, fsys, []string{"a.socket", "b.socket", "c.socket", "t.timer", "p.path", "d.service"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{
		lib + "a.socket", lib + "a.service", lib + "b.socket", lib + "other.service",
		lib + "c.socket", lib + "c@.service", lib + "c@.service.d/x.conf", lib + "c-dropin.target",
		lib + "t.timer", lib + "t.service", lib + "p.path", lib + "q.service",
		lib + "d.service", lib + "d1.socket", lib + "d2.socket", lib + "dbus.socket", lib + "sysinit.target",
	})
	wantSet(t, "execs", execPaths(r), []string{"/usr/bin/a", "/usr/bin/other", "/usr/bin/c-handler", "/usr/bin/true"})
	for _, it := range r.Items {
		want := map[string]string{
			lib + "c@.service":    "service (Accept=yes) of c.socket",
			lib + "other.service": "Service= of b.socket",
			lib + "q.service":     "Unit= of p.path",
			lib + "d2.socket":     "Sockets= of d.service",
			lib + "dbus.socket":   "Requires= (Type=dbus) of d.service",
		}[it.Path]
		if want != "" && it.Why != want {
			t.Errorf("%s: why %q, want %q", it.Path, it.Why, want)
		}
	}
}

func TestClosureWantsDirs(t *testing.T) {
	files := with(base, map[string]string{
		lib + "w.target":                                 "[Unit]\n",
		lib + "w.target.wants/a.service":                 "-> ../a.service",
		etc + "w.target.wants/b.service":                 "-> /lib/systemd/system/b.service",
		lib + "w.target.requires/c.target":               "-> /lib/systemd/system/c.target",
		etc + "w.target.wants/masked.service":            "-> /dev/null",
		lib + "w.target.wants/masked.service":            "-> ../masked.service",
		lib + "w.target.wants/file.service":              "[Unit]\n",
		lib + "w.target.wants/getty@tty3.service":        "-> ../getty@.service",
		lib + "w.target.wants/tmpl@.service":             "-> ../tmpl@.service",
		lib + "a.service":                                "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
		lib + "b.service":                                "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
		lib + "c.target":                                 "[Unit]\n",
		lib + "getty@.service":                           "[Unit]\nDefaultDependencies=no\n",
		lib + "tmpl@.service":                            "[Unit]\nDefaultDependencies=no\n",
		lib + "masked.service":                           "[Unit]\nDefaultDependencies=no\n",
		lib + "getty@.service.wants/per-instance.target": "-> ../per-instance.target",
		lib + "per-instance.target":                      "[Unit]\n",
	})
	fsys := tree(t, files)

	r := closure(t, fsys, []string{"w.target"}, Options{FollowWants: false})
	wantSet(t, "not followed", itemPaths(r), []string{lib + "w.target"})

	r = closure(t, fsys, []string{"w.target"}, Options{FollowWants: true})
	wantSet(t, "followed", itemPaths(r), []string{
		lib + "w.target",
		lib + "w.target.wants/a.service", lib + "a.service",
		etc + "w.target.wants/b.service", lib + "b.service",
		lib + "w.target.requires/c.target", lib + "c.target",
		lib + "w.target.wants/getty@tty3.service", lib + "getty@.service",
		lib + "getty@.service.wants/per-instance.target", lib + "per-instance.target",
	})
	if !hasWarning(r, "file.service", "not a symlink") || !hasWarning(r, "tmpl@.service", "ignored") {
		t.Errorf("warnings: %q", r.Warnings)
	}
	for _, it := range r.Items {
		if it.Path == lib+"c.target" && it.Why != "Requires= (link in /lib/systemd/system/w.target.requires) of w.target" {
			t.Errorf("c.target why = %q", it.Why)
		}
	}
}

func TestClosureExplicitWants(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "udevd.service":                      "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
		lib + "modprobe@.service":                  "[Unit]\nDefaultDependencies=no\n",
		lib + "lonely.target":                      "[Unit]\n",
		etc + "sysinit.target.wants/udevd.service": "-> /somewhere/else",
	}))
	opts := Options{FollowWants: true, Wants: map[string][]string{
		"sysinit.target": {"udevd.service", "modprobe@loop.service"},
		"absent.target":  {"lonely.target"},
	}}
	r := closure(t, fsys, []string{"sysinit.target"}, opts)
	want := []Link{
		{etc + "absent.target.wants/lonely.target", lib + "lonely.target", "explicit Wants of absent.target"},
		{etc + "sysinit.target.wants/modprobe@loop.service", lib + "modprobe@.service", "explicit Wants of sysinit.target"},
		{etc + "sysinit.target.wants/udevd.service", lib + "udevd.service", "explicit Wants of sysinit.target"},
	}
	if !reflect.DeepEqual(r.Links, want) {
		t.Errorf("links:\n got %+v\nwant %+v", r.Links, want)
	}
	// The root's own link at the same path gives way to the explicit one.
	wantSet(t, "items", itemPaths(r), []string{lib + "sysinit.target", lib + "udevd.service", lib + "modprobe@.service", lib + "lonely.target"})
	if !hasWarning(r, "absent.target", "not in the closure") {
		t.Errorf("warnings: %q", r.Warnings)
	}

	_, err := Closure(fsys, []string{"sysinit.target"}, Options{Wants: map[string][]string{"sysinit.target": {"nope.service"}}})
	if err == nil || !strings.Contains(err.Error(), "nope.service not found") {
		t.Errorf("missing explicit Wants: err = %v", err)
	}
}

func TestClosureMissing(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "a.target": "[Unit]\nWants=gone.service\nRequires=gone2.target sys-kernel-x.device\nWants=%H.target\n",
	}))
	r, err := Closure(fsys, []string{"a.target", "nope.target", "no such name"}, Options{})
	if err == nil {
		t.Fatal("a missing requested unit is no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "nope.target not found in /etc/systemd/system, /usr/local/lib/systemd/system, /lib/systemd/system, /usr/lib/systemd/system") {
		t.Errorf("error does not name the unit and dirs: %v", err)
	}
	if !strings.Contains(msg, `"no such name" is not a valid unit name`) {
		t.Errorf("error does not reject the bad name: %v", err)
	}
	if strings.Contains(msg, "gone") {
		t.Errorf("missing dependencies are errors: %v", err)
	}
	if !hasWarning(r, "gone.service not found", "Wants= of a.target") || !hasWarning(r, "gone2.target not found", "Requires= of a.target") {
		t.Errorf("warnings: %q", r.Warnings)
	}
	if hasWarning(r, "device") {
		t.Errorf("a device unit without a file is warned about: %q", r.Warnings)
	}
	if !hasWarning(r, lib+"a.target:4", "%H") {
		t.Errorf("no warning for an unknown specifier: %q", r.Warnings)
	}
	wantSet(t, "items", itemPaths(r), []string{lib + "a.target"})
}

func TestClosureExecs(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "x.service": `[Unit]
DefaultDependencies=no
[Service]
ExecStartPre=-/bin/plymouth --wait quit
ExecStart=@/lib/systemd/system-generators/systemd-fstab-generator systemd-sysroot-fstab-check
ExecStartPost=udevadm settle ; -/usr/bin/absent ; systemctl daemon-reload
ExecReload=/usr/bin/missing \
  --flag
ExecStop=+/usr/bin/../bin//true
ExecStopPost=noexec-tool
ExecCondition=/usr/lib/%N/check
`,
		lib + "y.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecSearchPath=/opt/bin\nExecStart=tool\nExecStop=udevadm\n",
		// systemd skips a unit whose path condition fails, so its
		// missing programs never run: mdadm-shutdown.service and dracut.
		lib + "z.service": "[Unit]\nDefaultDependencies=no\nConditionFileIsExecutable=/usr/bin/dracut\nConditionPathExists=!/etc/nope\n[Service]\nExecStop=/usr/bin/dracut --force\n",
		"/lib/systemd/system-generators/systemd-fstab-generator": "",
		"/usr/sbin/udevadm":     "noexec:",
		"/usr/bin/udevadm":      "",
		"/usr/sbin/noexec-tool": "noexec:",
		"/usr/lib/x/check":      "",
		"/opt/bin/tool":         "",
	}))
	r, err := Closure(fsys, []string{"x.service", "y.service", "z.service"}, Options{})
	if err == nil {
		t.Fatal("no error for missing executables")
	}
	for _, want := range []string{
		lib + "x.service:7: ExecReload= of x.service: /usr/bin/missing not found",
		lib + "x.service:10: ExecStopPost= of x.service: noexec-tool not found in /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		lib + "y.service:6: ExecStop= of y.service: udevadm not found in /opt/bin",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("%d errors, want 3:\n%v", n, err)
	}
	if !hasWarning(r, lib+"x.service:4", "/bin/plymouth not found") || !hasWarning(r, lib+"x.service:6", "/usr/bin/absent not found") ||
		!hasWarning(r, lib+"z.service:6", "/usr/bin/dracut not found") {
		t.Errorf("warnings: %q", r.Warnings)
	}
	wantSet(t, "execs", execPaths(r), []string{
		"/lib/systemd/system-generators/systemd-fstab-generator", // argv0 is not a file
		"/usr/bin/udevadm", // /usr/sbin/udevadm is not executable
		"/usr/bin/systemctl",
		"/usr/bin/../bin/true",
		"/usr/lib/x/check",
		"/opt/bin/tool",
	})
	for _, e := range r.Execs {
		if e.Path == "/usr/bin/systemctl" && (e.Unit != "x.service" || e.Line != lib+"x.service:6" || e.Why != "ExecStartPost= of x.service") {
			t.Errorf("exec %+v", e)
		}
	}
}

func TestClosureSlices(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "a.service":      "[Unit]\nDefaultDependencies=no\n[Service]\nSlice=my-sub.slice\nExecStart=/usr/bin/true\n",
		lib + "my-sub.slice":   "[Unit]\nDefaultDependencies=no\n",
		lib + "my.slice":       "[Unit]\nDefaultDependencies=no\n",
		lib + "t@.service":     "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
		lib + `system-t.slice`: "[Unit]\nDefaultDependencies=no\n",
		lib + "u@.service":     "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n",
	}))
	r := closure(t, fsys, []string{"a.service", "t@x.service", "u@y.service"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{
		lib + "a.service", lib + "my-sub.slice", lib + "my.slice",
		lib + "t@.service", lib + "system-t.slice", lib + "u@.service",
	})
	if len(r.Warnings) != 0 {
		t.Errorf("slices without files are warned about: %q", r.Warnings)
	}
}

func TestClosureBadFiles(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "a.target":          "[Unit]\nWants=b.target\n",
		lib + "b.target":          "[Unit\n",
		lib + "a.target.d/x.conf": "[Unit]\nA=\xff\n",
	}))
	_, err := Closure(fsys, []string{"a.target"}, Options{})
	if err == nil || !strings.Contains(err.Error(), lib+"b.target:1: invalid section header") ||
		!strings.Contains(err.Error(), lib+"a.target.d/x.conf:2: invalid UTF-8") {
		t.Errorf("err = %v", err)
	}
}

func TestClosureDevNullMask(t *testing.T) {
	files := with(base, map[string]string{
		etc + "m.service": "-> ../../../dev/null", // not literally "/dev/null": stat decides
		lib + "m.service": "[Unit]\nWants=never.target\n",
	})
	fsys := tree(t, files)
	// A real character device, as on a live root.
	if err := os.MkdirAll(filepath.Join(fsys.Root(), "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(fsys.Root(), "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod: %v (the tests run as root)", err)
	}
	r := closure(t, fsys, []string{"m.service"}, Options{})
	wantSet(t, "items", itemPaths(r), []string{etc + "m.service"})
}

func TestClosureDeterministic(t *testing.T) {
	fsys := tree(t, with(base, map[string]string{
		lib + "a.target": "[Unit]\nWants=c.target b.target\n",
		lib + "b.target": "[Unit]\nWants=d.target gone1.target\n",
		lib + "c.target": "[Unit]\nWants=d.target gone2.target\n",
		lib + "d.target": "[Unit]\n",
	}))
	first := closure(t, fsys, []string{"a.target"}, Options{FollowWants: true})
	for i := 0; i < 5; i++ {
		if r := closure(t, fsys, []string{"a.target"}, Options{FollowWants: true}); !reflect.DeepEqual(r, first) {
			t.Fatalf("run %d differs:\n%+v\n%+v", i, r, first)
		}
	}
	if !sort.StringsAreSorted(first.Warnings) || len(first.Warnings) != 2 {
		t.Errorf("warnings: %q", first.Warnings)
	}
}
