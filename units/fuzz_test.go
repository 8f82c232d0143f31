package units

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse, or the word splitting and
// specifier expansion run on what it returns, panic, and that what Parse
// returns keeps its promises.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Unit]\nWants=a.service b@%i.service\n[Service]\nExecStart=-@/bin/x \"a b\" \\x41 ; /bin/y\n"))
	f.Add([]byte("[Service]\nExecStart=/bin/a \\\n# c\n  b\\\\\n"))
	f.Add([]byte("\xef\xbb\xbf[Unit]\r\nA=b\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(bytes.NewReader(data), "fuzz.service")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.service:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		u, _ := parseName("a-b@c-d.service")
		last := 0
		for _, e := range file.Entries {
			if e.Key == "" || e.Line < last || e.Line < 1 {
				t.Fatalf("bad entry %+v after line %d", e, last)
			}
			if strings.Trim(e.Key, whitespace) != e.Key || strings.Trim(e.Value, whitespace) != e.Value {
				t.Fatalf("entry not stripped: %+v", e)
			}
			last = e.Line
			cmds, _ := splitCommands(e.Value)
			for _, c := range cmds {
				u.expand(c.path, true, "/x")
			}
			u.expand(e.Value, false, "")
		}
	})
}
