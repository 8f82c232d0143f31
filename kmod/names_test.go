package kmod

import (
	"slices"
	"testing"
)

func TestFnmatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"crc32c", "crc32c", true},
		{"crc32c", "crc32", false},
		{"pci:v00008086d*sv*sd*bc*sc*i*", "pci:v00008086d00001234sv00000000sd00000000bc01sc06i01", true},
		{"pci:v00008086d*sv*sd*bc*sc*i*", "pci:v00001022d00001234sv00000000sd00000000bc01sc06i01", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*", "", true},
		{"?", "", false},
		{"a?c", "abc", true},
		{"a/*", "a/b/c", true}, // '*' crosses '/', unlike path.Match
		{"*.x", ".x", true},    // and matches a leading dot
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v1234p5678d0100dc00dsc00dp00ic08isc06ip50in00", true},
		{"x[0-9]y", "x5y", true},
		{"x[0-9]y", "xay", false},
		{"x[!0-9]y", "xay", true},
		{"x[^0-9]y", "x5y", false},
		{"x[]]y", "x]y", true},
		{"x[abc", "x[abc", true}, // an unterminated '[' is literal
		{`x\*y`, "x*y", true},
		{`x\*y`, "xay", false},
		{"dmi:*:pnThinkPad*:*", "dmi:bvnLENOVO:pnThinkPadX1:pvr", true},
	}
	for _, tt := range tests {
		if got := fnmatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestNormalizeAlias(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"crc32c-intel", "crc32c_intel", true},
		{"usb:v*p*d*dc*dsc*dp*ic0[2-3]*", "usb:v*p*d*dc*dsc*dp*ic0[2-3]*", true},
		{"a-[x-y]-b", "a_[x-y]_b", true},
		{"a[b", "", false},
		{"a]b", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeAlias(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeAlias(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestModName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/arch/x86/crypto/crc32c-intel.ko":     "crc32c_intel",
		"kernel/lib/zstd/zstd_decompress.ko.zst":     "zstd_decompress",
		"/lib/modules/6.1/updates/dkms/nvidia.ko.xz": "nvidia",
	} {
		if got := ModName(in); got != want {
			t.Errorf("ModName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCloseMatches(t *testing.T) {
	names := []string{"virtio_blk", "virtio", "virtio_net", "ext4", "ext2", "nvme", "nvme_core", "xfs"}
	tests := []struct {
		name string
		want []string
	}{
		{"virtio_blkk", []string{"virtio_blk", "virtio"}},
		{"ext3", []string{"ext2", "ext4"}},
		{"nvm", []string{"nvme", "nvme_core"}},
		{"zzzzzz", nil},
	}
	for _, tt := range tests {
		if got := closeMatches(tt.name, names, 5); !slices.Equal(got, tt.want) {
			t.Errorf("closeMatches(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := closeMatches("virtio", names, 1); len(got) != 1 {
		t.Errorf("max 1 gave %q", got)
	}
}
