package cpiogen

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseSpec: no spec text panics the parser; what it accepts formats
// back into a spec that parses to the same entries.
func FuzzParseSpec(f *testing.F) {
	f.Add("dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\nfile /init ${SRC}/init 0755 0 0\n")
	f.Add("slink /bin/sh busybox 0777 0 0 # comment\npipe /run/p 0644 0 0\nsock /run/s 0644 0 0\n")
	f.Add("file /a /tmp/a 0644 0 0 /b /c\n")
	f.Fuzz(func(t *testing.T, spec string) {
		getenv := func(string) string { return "/src" }
		entries, err := ParseSpec(strings.NewReader(spec), getenv)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := FormatSpec(&buf, entries); err != nil {
			return
		}
		again, err := ParseSpec(&buf, getenv)
		if err != nil {
			t.Fatalf("formatted spec does not parse: %v\n%s", err, buf.String())
		}
		if len(again) != len(entries) {
			t.Fatalf("round trip: %d entries, want %d", len(again), len(entries))
		}
	})
}
