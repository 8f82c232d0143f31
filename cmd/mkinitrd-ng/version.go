package main

import (
	"runtime/debug"
	"strings"
)

// releaseVersion is the version a release or package build gives with
// -ldflags "-X main.releaseVersion=VERSION" (make does, from git
// describe); it is a link-time constant, empty in a plain go build.
var releaseVersion string

// versionString says which build this is, from its build information:
// the version (releaseVersion, else the module's, else "dev"), the
// commit and its time with "+dirty" for a modified tree, and the Go
// version that compiled it.
func versionString(info *debug.BuildInfo, ok bool, release string) string {
	if !ok {
		return orDev(release)
	}
	v := release
	if v == "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var parts []string
	if rev := settings["vcs.revision"]; rev != "" {
		c := "commit " + rev[:min(len(rev), 12)]
		if settings["vcs.modified"] == "true" {
			c += "+dirty"
		}
		if t := settings["vcs.time"]; t != "" {
			c += " " + strings.SplitN(t, "T", 2)[0]
		}
		parts = append(parts, c)
	}
	parts = append(parts, info.GoVersion)
	return orDev(v) + " (" + strings.Join(parts, ", ") + ")"
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}
