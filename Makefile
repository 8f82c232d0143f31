# mkinitrd-ng: build, test and benchmark.
GO      ?= go
PREFIX  ?= /usr/local
BIN     := bin/mkinitrd-ng
# Tests need these Debian packages; `make deps` installs the missing ones.
DEPS    := cpio libarchive-tools gcc libc6-dev xz-utils zstd lz4 gzip bzip2 \
           qemu-system-x86 linux-image-amd64 busybox-static e2fsprogs kmod systemd udev time \
           linux-source-6.1 groff-base strace patchelf \
           cryptsetup-bin lvm2 mdadm xfsprogs btrfs-progs dosfstools swtpm swtpm-tools kbd \
           libtss2-esys-3.0.2-0 libtss2-rc0 libtss2-mu0 libtss2-tcti-device0 \
           systemd-boot-efi ovmf sbsigntool mtools openssl binutils \
           zsh fish lintian chromium
FUZZTIME ?= 10s
# `make install` paths; DESTDIR prefixes them all, for packaging.
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
# Whatever PREFIX is: kernel-install reads plugins only from /usr/lib and
# /etc/kernel/install.d, and kernel packages run /etc/kernel/post{inst,rm}.d.
KERNEL_INSTALL_DIR ?= /usr/lib/kernel/install.d
KERNEL_HOOK_DIR    ?= /etc/kernel
# Where each shell looks for the completions of packages (Debian's zsh
# looks in $(PREFIX)/share/zsh/vendor-completions as well; the .deb uses it).
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
ZSH_COMPLETION_DIR  ?= $(PREFIX)/share/zsh/site-functions
FISH_COMPLETION_DIR ?= $(PREFIX)/share/fish/vendor_completions.d
# The installed hooks call the binary by its installed path, not via $PATH.
HOOK_SED = sed 's|MKINITRD_NG:-mkinitrd-ng}|MKINITRD_NG:-$(BINDIR)/mkinitrd-ng}|'

# What --version reports and the .deb carries (contrib/deb/version.sh):
# a tag's version, else 0.0~gitDATE.COMMIT. The build information adds
# the commit and the Go version.
VERSION ?= $(shell sh contrib/deb/version.sh)
GOBUILDFLAGS ?= -buildvcs=auto -ldflags "-X main.releaseVersion=$(VERSION)"
# `make deb` writes mkinitrd-ng_VERSION_ARCH.deb in DEB_OUT, staging the
# files in DEB_STAGE.
DEB_OUT   ?= .
DEB_STAGE ?= bin/deb

.PHONY: all build install test unit e2e deps fuzz bench benchgo vet clean initrd test-netboot deb

all: build

build:
	$(GO) build $(GOBUILDFLAGS) -o $(BIN) ./cmd/mkinitrd-ng

# The example from the README: a rescue-shell initrd of this host's bash.
initrd.img: build
	$(BIN) --manifest examples/shell.json -o initrd.img -c zstd

# The binary, its man page, the kernel-install plugin, the Debian hooks
# and the shell completions, which the binary generates from its flags.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(KERNEL_INSTALL_DIR) \
		$(DESTDIR)$(KERNEL_HOOK_DIR)/postinst.d $(DESTDIR)$(KERNEL_HOOK_DIR)/postrm.d \
		$(DESTDIR)$(BASH_COMPLETION_DIR) $(DESTDIR)$(ZSH_COMPLETION_DIR) $(DESTDIR)$(FISH_COMPLETION_DIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/mkinitrd-ng
	install -m 0644 doc/mkinitrd-ng.1 $(DESTDIR)$(MANDIR)/man1/mkinitrd-ng.1
	$(HOOK_SED) contrib/kernel-install/50-mkinitrd-ng.install >$(DESTDIR)$(KERNEL_INSTALL_DIR)/50-mkinitrd-ng.install
	$(HOOK_SED) contrib/debian/postinst.d/mkinitrd-ng >$(DESTDIR)$(KERNEL_HOOK_DIR)/postinst.d/mkinitrd-ng
	$(HOOK_SED) contrib/debian/postrm.d/mkinitrd-ng >$(DESTDIR)$(KERNEL_HOOK_DIR)/postrm.d/mkinitrd-ng
	chmod 0755 $(DESTDIR)$(KERNEL_INSTALL_DIR)/50-mkinitrd-ng.install \
		$(DESTDIR)$(KERNEL_HOOK_DIR)/postinst.d/mkinitrd-ng $(DESTDIR)$(KERNEL_HOOK_DIR)/postrm.d/mkinitrd-ng
	$(BIN) completion bash >$(DESTDIR)$(BASH_COMPLETION_DIR)/mkinitrd-ng
	$(BIN) completion zsh >$(DESTDIR)$(ZSH_COMPLETION_DIR)/_mkinitrd-ng
	$(BIN) completion fish >$(DESTDIR)$(FISH_COMPLETION_DIR)/mkinitrd-ng.fish
	chmod 0644 $(DESTDIR)$(BASH_COMPLETION_DIR)/mkinitrd-ng $(DESTDIR)$(ZSH_COMPLETION_DIR)/_mkinitrd-ng \
		$(DESTDIR)$(FISH_COMPLETION_DIR)/mkinitrd-ng.fish

# The Debian package, from what make install installs into a staging
# tree (zsh's completion where Debian's zsh looks for packages'), plus
# contrib/deb: update-initramfs, /etc/mkinitrd-ng, the control files. The
# binary has no cgo and no symbol table, as Debian ships Go programs.
deb:
	rm -rf $(DEB_STAGE) $(DEB_STAGE).bin
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_STAGE)) PREFIX=/usr \
		ZSH_COMPLETION_DIR=/usr/share/zsh/vendor-completions BIN=$(DEB_STAGE).bin \
		GOBUILDFLAGS='-buildvcs=auto -trimpath -ldflags "-s -w -X main.releaseVersion=$(VERSION)"' CGO_ENABLED=0
	sh contrib/deb/build.sh $(DEB_STAGE) $(DEB_OUT) $(VERSION)
	rm -rf $(DEB_STAGE) $(DEB_STAGE).bin

deps:
	@sh tests/deps.sh $(DEPS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# The whole suite: unit tests, end-to-end tests with real tools, QEMU
# boots, then every fuzz target briefly (FUZZTIME each).
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...
	@sh tests/fuzz.sh $(FUZZTIME)

# The storage stacks (LUKS, LVM, md RAID, btrfs...) booted under QEMU, on
# disks a builder guest prepares (doc/storage.md): minutes under TCG, so
# apart from `make test`; CI runs both.
.PHONY: test-storage
test-storage: deps
	MKINITRD_NG_STORAGE_BOOT=1 $(GO) test -count=1 -timeout 40m -run '^TestStorageBoot' ./tests

# The UKI netboot: OVMF's PXE loads a UKI over QEMU's TFTP and boots it to
# the root's init, which takes over a minute under TCG (tests/uki_boot_test.go).
test-netboot: deps
	MKINITRD_NG_NETBOOT=1 $(GO) test -count=1 -timeout 15m -run '^TestUKINetboot$$' ./tests

# A longer hunt: make fuzz FUZZTIME=10m
fuzz:
	@sh tests/fuzz.sh $(FUZZTIME) 60s

# Compares whole builds with the cp + cpio + compressor pipeline and prints
# the table of doc/performance.md (subsets: BENCH_RUNS,
# BENCH_WORKLOADS, BENCH_COMPRESSORS; see bench/cmd/mkinitrd-bench).
bench: build
	$(GO) run ./bench/cmd/mkinitrd-bench

# The Go micro-benchmarks: newc writer, ELF reader, compressors serial vs
# segmented.
benchgo:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin initrd.img
