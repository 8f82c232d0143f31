package mkinitrd

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mkinitrd-ng/mkinitrd-ng/resolve"
	"github.com/mkinitrd-ng/mkinitrd-ng/rootfs"
)

// TestDefaultCompressorName: the default is zstd when the target kernel's
// config has CONFIG_RD_ZSTD=y or no config is found, gzip when it lacks
// it, none when it lacks gzip too; /proc/config.gz speaks only for the
// running kernel, and the reason names the file read.
func TestDefaultCompressorName(t *testing.T) {
	running := runningKernel()
	tests := []struct {
		name, version, bootConfig, procConfig string
		want, whyHas                          string
	}{
		{"boot config with zstd", "5.10.0-1", "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n", "", "zstd", "CONFIG_RD_ZSTD=y in /boot/config-5.10.0-1"},
		{"boot config without zstd", "4.19.0-1", "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n", "", "gzip", "no CONFIG_RD_ZSTD=y in /boot/config-4.19.0-1"},
		{"zstd as a module is not enough", "4.19.0-1", "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=m\n", "", "gzip", "cannot unpack zstd"},
		{"neither", "4.19.0-1", "CONFIG_RD_XZ=y\n", "", "none", "neither"},
		{"no config", "4.19.0-1", "", "", "zstd", "no config of kernel 4.19.0-1"},
		{"proc config ignored for another kernel", "4.19.0-1", "", "CONFIG_RD_GZIP=y\n", "zstd", "no config"},
		{"proc config of the running kernel", running, "", "CONFIG_RD_GZIP=y\n", "gzip", "in PROC"},
		{"boot config wins over proc", running, "CONFIG_RD_ZSTD=y\n", "CONFIG_RD_GZIP=y\n", "zstd", "/boot/config-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.bootConfig != "" {
				writeConfig(t, filepath.Join(root, "boot", "config-"+tt.version), []byte(tt.bootConfig))
			}
			proc := filepath.Join(dir, "config.gz")
			if tt.procConfig != "" {
				writeConfig(t, proc, gzipConfig(t, tt.procConfig))
			}
			fsys, err := rootfs.New(root)
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()
			name, why := defaultCompressorName(fsys, tt.version, proc)
			whyHas := strings.ReplaceAll(tt.whyHas, "PROC", proc)
			if name != tt.want || !strings.Contains(why, whyHas) || !strings.HasPrefix(why, name+": ") {
				t.Errorf("got %s (%q), want %s with %q", name, why, tt.want, whyHas)
			}
		})
	}
}

// TestDefaultCompressorLevel: the default compressor takes the level of
// the options, else the manifest's, and a level the fallback cannot take
// is an error that says why the fallback was chosen.
func TestDefaultCompressorLevel(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, filepath.Join(root, "boot", "config-4.19.0-1"), []byte("CONFIG_RD_GZIP=y\n"))
	tests := []struct {
		name          string
		manifestLevel resolve.Level
		optsLevel     resolve.Level
		wantErr       string
	}{
		{"default level", "", "", ""},
		{"max", "", "max", ""},
		{"manifest level", "9", "", ""},
		{"options win", "19", "9", ""},
		{"out of gzip's range", "", "19", "cannot unpack zstd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &resolve.Manifest{Root: root, Level: tt.manifestLevel}
			c, why, err := DefaultCompressor(m, Options{KernelVersion: "4.19.0-1", Level: tt.optsLevel})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.Name() != "gzip" || !strings.HasPrefix(why, "gzip: ") {
				t.Fatalf("got %v, %q, %v; want gzip", c, why, err)
			}
		})
	}
}

func writeConfig(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipConfig(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
