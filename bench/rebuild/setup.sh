#!/bin/bash
# setup.sh: the workloads of the rebuild measurements, in $DIR (default
# /var/tmp/mkinitrd-ng-rebuild): systemd.json, the systemd workload of make
# bench (examples/systemd-initrd.json and the newest kernel's storage and
# filesystem modules), and systemd-xz.json, the same with every one of those
# modules compressed with xz as Fedora ships them (.ko.xz, CRC32, 1 MiB
# dictionary). Run from the source tree.
set -e
DIR=${DIR:-/var/tmp/mkinitrd-ng-rebuild}
kver=$(ls /lib/modules | sort -V | tail -1)
K=/lib/modules/$kver/kernel
dirs="drivers/ata drivers/nvme drivers/scsi drivers/md drivers/virtio drivers/block fs/ext4 fs/btrfs fs/xfs fs/fat crypto"
mkdir -p "$DIR"
if [ ! -e "$DIR/kmx/done" ]; then
    for d in $dirs; do
        (cd "$K" && find "$d" -name '*.ko') | while read -r m; do
            mkdir -p "$DIR/kmx/$(dirname "$m")"
            xz -c --check=crc32 --lzma2=dict=1MiB "$K/$m" > "$DIR/kmx/$m.xz"
        done
    done
    touch "$DIR/kmx/done"
fi
python3 - "$DIR" "$K" "$dirs" <<'PY'
import json, sys
d, K, dirs = sys.argv[1], sys.argv[2], sys.argv[3].split()
m = json.load(open('examples/systemd-initrd.json'))
m.pop('compress', None); m.pop('level', None)
c = m.get('contents', [])
a = dict(m, contents=c + [{"source": K + '/' + x} for x in dirs])
json.dump(a, open(d + '/systemd.json', 'w'), indent=1)
b = dict(m, contents=c + [{"source": d + '/kmx/' + x, "target": '/usr' + K + '/' + x} for x in dirs])
json.dump(b, open(d + '/systemd-xz.json', 'w'), indent=1)
PY
echo "$DIR/systemd.json $DIR/systemd-xz.json"
