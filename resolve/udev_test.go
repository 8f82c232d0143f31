package resolve

import (
	"slices"
	"strings"
	"testing"
)

// TestUdevRulePrograms: a udev rules file brings the programs its rules
// run, a bare name from udev's directory and a path through its links;
// builtins and substitutions bring nothing, and a program the root lacks
// is a warning naming the rule.
func TestUdevRulePrograms(t *testing.T) {
	tr := newTree(t)
	tr.write("/usr/lib/udev/rules.d/60-x.rules", `# RUN+="/usr/bin/commented"
KERNEL=="sd*", IMPORT{program}="ata_id --export $devnode"
ACTION=="add", RUN+="/sbin/tool -q $devnode", RUN{builtin}+="kmod load"
ACTION=="remove", RUN+="$env{REMOVE_CMD}"
PROGRAM=="/usr/bin/absent"
`, 0o644)
	tr.write("/usr/lib/udev/ata_id", "#!/bin/sh\n", 0o755)
	tr.write("/bin/sh", "", 0o755)
	tr.write("/usr/sbin/tool", "", 0o755)
	tr.symlink("/sbin", "usr/sbin")
	tr.write("/etc/udev/rules.d/70-y.rules", `RUN+="/usr/sbin/tool"`+"\n", 0o644)
	c := tr.mustResolve(`{"contents": [{"source": "/usr/lib/udev/rules.d/60-x.rules"}, {"source": "/etc/udev/rules.d/70-y.rules"}]}`)
	sameList(t, paths(c), []string{"/bin/sh", "/etc/udev/rules.d/70-y.rules", "/sbin -> usr/sbin", "/usr/lib/udev/ata_id",
		"/usr/lib/udev/rules.d/60-x.rules", "/usr/sbin/tool"})
	for _, e := range c.Entries {
		if e.Path == "/usr/lib/udev/ata_id" && e.Why != "run by udev rule /usr/lib/udev/rules.d/60-x.rules:2" {
			t.Errorf("ata_id's reason: %q", e.Why)
		}
	}
	want := "/usr/lib/udev/rules.d/60-x.rules:5: PROGRAM runs /usr/bin/absent, which the root does not have: left out"
	if !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
		t.Errorf("warnings %q lack %q", c.Warnings, want)
	}
}
