package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// LUKS2's on-disk header: a 4 KiB binary header whose hdr_size covers it
// and the JSON area after it (cryptsetup's docs/on-disk-format-luks2).
const (
	luksMagic      = "LUKS\xba\xbe"
	luksBinarySize = 4096
	luksMaxHeader  = 4 << 20 // the largest hdr_size the format allows
)

// luksTokens returns the types of the tokens in a LUKS2 header read from
// r ("systemd-tpm2", "systemd-fido2"), or nil for a LUKS1 header, which
// has none.
func luksTokens(r io.ReaderAt) ([]string, error) {
	var bin [16]byte
	if _, err := r.ReadAt(bin[:], 0); err != nil {
		return nil, fmt.Errorf("LUKS header: %w", err)
	}
	if string(bin[:6]) != luksMagic {
		return nil, fmt.Errorf("no LUKS header")
	}
	if v := binary.BigEndian.Uint16(bin[6:8]); v != 2 {
		return nil, nil
	}
	size := binary.BigEndian.Uint64(bin[8:16])
	if size <= luksBinarySize || size > luksMaxHeader {
		return nil, fmt.Errorf("LUKS2 header size %d out of range", size)
	}
	area := make([]byte, size-luksBinarySize)
	if _, err := r.ReadAt(area, luksBinarySize); err != nil && err != io.EOF {
		return nil, fmt.Errorf("LUKS2 JSON area: %w", err)
	}
	if i := bytes.IndexByte(area, 0); i >= 0 {
		area = area[:i]
	}
	var meta struct {
		Tokens map[string]struct {
			Type string `json:"type"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(area, &meta); err != nil {
		return nil, fmt.Errorf("LUKS2 JSON area: %w", err)
	}
	var types []string
	for _, t := range meta.Tokens {
		types = append(types, t.Type)
	}
	slices.Sort(types)
	return slices.Compact(types), nil
}

// crypttabLine is one line of /etc/crypttab.
type crypttabLine struct {
	text                  string
	name, device, keyFile string
	options               string
}

// parseCrypttab reads crypttab(5): name, device, key file and options,
// blank lines and '#' comments skipped.
func parseCrypttab(data []byte) []crypttabLine {
	var out []crypttabLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		c := crypttabLine{text: line, name: f[0]}
		if len(f) > 1 {
			c.device = f[1]
		}
		if len(f) > 2 {
			c.keyFile = f[2]
		}
		if len(f) > 3 {
			c.options = f[3]
		}
		out = append(out, c)
	}
	return out
}

// hasKeyFile reports whether the line names a key file to copy: not
// "none" or "-", and not a device or a runtime path.
func (c crypttabLine) hasKeyFile() bool {
	switch {
	case c.keyFile == "" || c.keyFile == "-" || c.keyFile == "none":
		return false
	case strings.HasPrefix(c.keyFile, "/dev/"), strings.HasPrefix(c.keyFile, "/run/"), strings.HasPrefix(c.keyFile, "/proc/"):
		return false
	}
	return strings.HasPrefix(c.keyFile, "/")
}
