# mkinitrd-ng: build, test and benchmark.
GO      ?= go
PREFIX  ?= /usr/local
BIN     := bin/mkinitrd-ng
# Tests need these Debian packages; `make deps` installs the missing ones.
DEPS    := cpio libarchive-tools gcc libc6-dev xz-utils zstd lz4 gzip bzip2 \
           qemu-system-x86 linux-image-amd64 busybox-static e2fsprogs kmod systemd udev
FUZZTIME ?= 10s

.PHONY: all build test unit e2e deps fuzz bench vet clean initrd

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mkinitrd-ng

# The example from the README: a rescue-shell initrd of this host's bash.
initrd.img: build
	$(BIN) --manifest examples/shell.json -o initrd.img -c zstd

deps:
	@sh tests/deps.sh $(DEPS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# The whole suite: unit tests, end-to-end tests with real tools, QEMU boots.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...

fuzz:
	@sh tests/fuzz.sh $(FUZZTIME)

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin initrd.img
