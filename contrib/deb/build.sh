#!/bin/sh
# Builds OUTDIR/mkinitrd-ng_VERSION_ARCH.deb with dpkg-deb from STAGE, a
# tree that make install DESTDIR=STAGE PREFIX=/usr filled, adding what
# only the package has: the update-initramfs command, /etc/mkinitrd-ng,
# the documentation Debian asks for, and the control files.
#
#   build.sh STAGE OUTDIR VERSION
set -eu
stage=$1
out=$2
version=$3
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
arch=$(dpkg --print-architecture)
doc=$stage/usr/share/doc/mkinitrd-ng
umask 022

gzip -9n "$stage/usr/share/man/man1/mkinitrd-ng.1"
install -D -m 0755 "$here/update-initramfs" "$stage/usr/sbin/update-initramfs"
install -d "$stage/usr/share/man/man8"
gzip -9n <"$here/update-initramfs.8" >"$stage/usr/share/man/man8/update-initramfs.8.gz"
install -D -m 0644 "$here/README.etc" "$stage/etc/mkinitrd-ng/README"
# Host mode is on: with initramfs-tools gone, a kernel gets an initrd
# unless the administrator deletes this file.
install -m 0644 /dev/null "$stage/etc/mkinitrd-ng/host"
first=$(git -C "$top" log --reverse --format=%ad --date=format:%Y 2>/dev/null | head -n 1)
last=$(git -C "$top" log -1 --format=%ad --date=format:%Y 2>/dev/null || date +%Y)
years=${first:-$last}
[ "$years" = "$last" ] || years=$years-$last
install -d "$doc"
sed "s/@YEARS@/$years/" "$here/copyright" >"$doc/copyright"
chmod 0644 "$doc/copyright"
install -d "$doc/examples"
install -m 0644 "$top"/examples/*.json "$doc/examples/"
date=$(git -C "$top" log -1 --format=%aD 2>/dev/null || date -R)
printf 'mkinitrd-ng (%s) unstable; urgency=medium\n\n  * Built from the source tree (%s).\n\n -- mkinitrd-ng developers <mkinitrd-ng@users.noreply.github.com>  %s\n' \
    "$version" "$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$date" |
    gzip -9n >"$doc/changelog.gz"
install -D -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/mkinitrd-ng"

install -d -m 0755 "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed "s/@VERSION@/$version/; s/@ARCH@/$arch/; s/@SIZE@/$size/" "$here/control.in" >"$stage/DEBIAN/control"
install -m 0644 "$here/conffiles" "$here/triggers" "$stage/DEBIAN/"
install -m 0755 "$here/postinst" "$stage/DEBIAN/"
# md5sums of the files that are not conffiles, as dh_md5sums writes it.
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
    awk 'NR == FNR { conf[substr($0, 2)]; next } !($0 in conf)' "$here/conffiles" - | xargs md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/mkinitrd-ng_${version}_$arch.deb"
