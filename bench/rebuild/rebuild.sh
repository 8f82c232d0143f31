#!/bin/bash
# rebuild.sh RUNS COMPRESSOR BINARY [SEGMENT-SIZE]: the rebuilds of issue 22
# on the systemd workload of setup.sh, each run a cold build with an empty
# --cache followed by rebuilds with that cache: unchanged inputs; one unit
# file changed; one library (a copy of libcrypto) changed; one module added;
# a new kernel version (every module at another path). Prints the median
# wall time of each, its ratio to the cold build's, and the image size.
set -e
runs=$1 comp=$2 bin=$3 seg=${4:-8M}
DIR=${DIR:-/var/tmp/mkinitrd-ng-rebuild}
kver=$(ls /lib/modules | sort -V | tail -1)
K=/lib/modules/$kver/kernel
C=$DIR/cache-$comp-$seg out=$DIR/rebuild.img
(cd "$K" && ls drivers/net/ethernet/intel/*.ko drivers/net/ethernet/intel/*/*.ko | head -20) > "$DIR/extra-modules"
cp /usr/lib/x86_64-linux-gnu/libcrypto.so.3 "$DIR/libbench.so"
variant() { # variant NAME RUN: the manifest $DIR/v.json
    python3 - "$DIR" "$K" "$kver" "$1" "$2" <<'PY'
import json, sys
d, K, kver, name, run = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
m = json.load(open(d + '/systemd.json'))
c = m['contents']
c.append({"source": d + '/libbench.so', "target": "/usr/lib/x86_64-linux-gnu/libbench.so"})
c.append({"target": "/etc/systemd/system/bench.service", "text": "[Service]\nExecStart=/bin/true\n"})
if name == 'unit':
    c[-1]["text"] += "# run %d\n" % run
if name == 'module':
    mods = open(d + '/extra-modules').read().split()
    c.append({"source": K + '/' + mods[run % len(mods)]})
if name == 'kernel':
    for e in c:
        if e.get('source', '').startswith(K):
            e['target'] = '/usr' + e['source'].replace(kver, 'new-%d' % run)
json.dump(m, open(d + '/v.json', 'w'))
PY
}
t() {
    local s=$(date +%s%N)
    "$bin" -m "$DIR/v.json" -o "$out" -c "$comp" --segment-size "$seg" --cache "$C" 2>>"$DIR/rebuild.log"
    echo $(( ($(date +%s%N) - s) / 1000000 ))
}
declare -A T
for r in $(seq "$runs"); do
    rm -rf "$C"
    variant base "$r"; T[cold]+="$(t) "; size=$(stat -c %s "$out")
    T[unchanged]+="$(t) "
    variant unit "$r"; T[unit]+="$(t) "
    variant base "$r"
    python3 -c "import random; p='$DIR/libbench.so'; b=bytearray(open(p,'rb').read()); i=random.randrange(len(b)); b[i]^=0xff; open(p,'wb').write(b)"
    T[library]+="$(t) "
    variant module "$r"; T[module]+="$(t) "
    variant kernel "$r"; T[kernel]+="$(t) "
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cold=$(med ${T[cold]})
for k in cold unchanged unit library module kernel; do
    m=$(med ${T[$k]})
    printf '%-9s %-9s %-4s %6d ms %5.3fx cold  [%s]\n' "$comp" "$k" "$seg" "$m" "$(echo "$m / $cold" | bc -l)" "${T[$k]% }"
done
echo "$comp $seg: image $size bytes"
