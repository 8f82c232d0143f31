package udevrules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPrograms(t *testing.T) {
	for _, tc := range []struct {
		name, rules string
		want        []Program
	}{
		{"import and run", `KERNEL=="sd*", IMPORT{program}="ata_id --export $devnode"
ACTION=="add", RUN+="/lib/systemd/systemd-sysctl --prefix=/net/ipv4/conf/$name"`,
			[]Program{{"ata_id", "IMPORT{program}", 1}, {"/lib/systemd/systemd-sysctl", "RUN", 2}}},
		{"program match and RUN{program}", `PROGRAM=="/usr/bin/foo %k", RESULT=="x", RUN{program}+="bar"`,
			[]Program{{"/usr/bin/foo", "PROGRAM", 1}, {"bar", "RUN", 1}}},
		{"builtins and substitutions", `ENV{MODALIAS}=="?*", RUN{builtin}+="kmod load"
IMPORT{builtin}="blkid"
ACTION=="remove", RUN+="$env{REMOVE_CMD}"
RUN+="%S/x"`, nil},
		{"continued lines and comments", "# RUN+=\"/not/this\"\nSUBSYSTEM==\"block\", \\\n  RUN+=\"/sbin/mdadm -I $devnode\"\n",
			[]Program{{"/sbin/mdadm", "RUN", 2}}},
		{"tab after the program", "RUN+=\"\t/x\targ\"", []Program{{"/x", "RUN", 1}}},
		{"each program once", "RUN+=\"/x a\"\nRUN+=\"/x b\"\n", []Program{{"/x", "RUN", 1}}},
		{"escaped quotes and no spaces", `ENV{A}="a\"b",RUN+="/bin/sh -c 'echo \"x\"'"`, []Program{{"/bin/sh", "RUN", 1}}},
		{"malformed pair stops the rule", `RUN+=/unquoted, RUN+="/after"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Programs(strings.NewReader(tc.rules))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDebianRules: the rules that the shipped fragments copy run the
// programs those fragments name by path.
func TestDebianRules(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"60-persistent-storage.rules", []string{"ata_id", "scsi_id"}},
		{"64-md-raid-assembly.rules", []string{"/sbin/mdadm"}},
		{"69-lvm.rules", []string{"/usr/bin/systemd-run"}},
	} {
		data, err := os.ReadFile(filepath.Join("/usr/lib/udev/rules.d", tc.file))
		if err != nil {
			t.Skipf("%v: install the packages of make deps", err)
		}
		got, err := Programs(strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range got {
			names = append(names, p.Name)
		}
		for _, w := range tc.want {
			if !slices.Contains(names, w) {
				t.Errorf("%s: programs %q lack %s", tc.file, names, w)
			}
		}
	}
}

// FuzzPrograms: any input gives programs with a name, no substitution
// in it, a known key and a line within the input, or a read error.
func FuzzPrograms(f *testing.F) {
	for _, s := range []string{
		`KERNEL=="sd*", IMPORT{program}="ata_id --export $devnode"`,
		"RUN+=\"/x\" \\\n, PROGRAM==\"y\"\n# c\n",
		`ENV{A}=e"a\"b",RUN{program}+="/bin/sh -c 'x'"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rules string) {
		got, err := Programs(strings.NewReader(rules))
		if err != nil {
			return
		}
		lines := strings.Count(rules, "\n") + 1
		for _, p := range got {
			if p.Name == "" || strings.ContainsAny(p.Name, "$% \t\n") || runsProgram(p.Key) == "" || p.Line < 1 || p.Line > lines {
				t.Errorf("program %+v from %q", p, rules)
			}
		}
	})
}
