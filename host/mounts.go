package host

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	devID  string // "major:minor" of the mounted device
	point  string // where it is mounted
	fstype string
	source string // "/dev/vda1", or what the file system calls its source
	super  string // the super block's options ("subvol=/@" for btrfs)
}

// parseMountinfo reads the lines of /proc/self/mountinfo, as proc(5)
// describes them: ID, parent ID, major:minor, root, mount point, options,
// optional fields up to "-", then type, source and super options. Octal
// escapes (\040 for a space) are decoded.
func parseMountinfo(data []byte) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("mountinfo line %d: %q is not ID, parent, major:minor, root, mount point, options, -, type, source", n, sc.Text())
		}
		m := mount{devID: f[2], point: unescapeOctal(f[4]), fstype: f[sep+1], source: unescapeOctal(f[sep+2])}
		if len(f) > sep+3 {
			m.super = f[sep+3]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeOctal decodes the \NNN escapes the kernel writes for spaces,
// tabs, newlines and backslashes in mountinfo fields.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lastMount returns the mount at point that is in effect: the last one
// listed there, which covers those before it.
func lastMount(mounts []mount, point string) (mount, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].point == point {
			return mounts[i], true
		}
	}
	return mount{}, false
}

// option returns the value of key in a comma-separated option list.
func option(opts, key string) (string, bool) {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
