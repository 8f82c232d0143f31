#!/bin/bash
# cold.sh RUNS MANIFEST COMPRESSOR OLD-BINARY NEW-BINARY: alternates a build
# with OLD, one with NEW and one with NEW and an empty --cache; prints the
# median wall and CPU time (GNU time: the process and the compressors it
# ran) of each, their ratios to OLD's, and the image sizes.
set -e
runs=$1 man=$2 comp=$3 old=$4 new=$5
DIR=${DIR:-/var/tmp/mkinitrd-ng-rebuild}
declare -A T C S
for i in $(seq "$runs"); do
    for v in old new cache; do
        bin=$new extra=()
        [ $v = old ] && bin=$old
        [ $v = cache ] && { rm -rf "$DIR/cold-cache"; extra=(--cache "$DIR/cold-cache"); }
        set -- $(/usr/bin/time -f "%e %U %S" "$bin" -m "$man" -o "$DIR/cold-$v.img" -c "$comp" "${extra[@]}" 2>&1 >/dev/null | tail -1)
        T[$v]+="$(echo "$1 * 1000 / 1" | bc) " C[$v]+="$(echo "($2 + $3) * 1000 / 1" | bc) "
        S[$v]=$(stat -c %s "$DIR/cold-$v.img")
    done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
o=$(med ${T[old]}) oc=$(med ${C[old]})
for v in old new cache; do
    m=$(med ${T[$v]}) c=$(med ${C[$v]})
    printf '%-8s %-16s %-5s wall %6d ms %5.3fx  cpu %6d ms %5.3fx  %9d bytes %6.4fx  [%s]\n' "$comp" "$(basename "$man")" $v \
        "$m" "$(echo "$m / $o" | bc -l)" "$c" "$(echo "$c / $oc" | bc -l)" "${S[$v]}" "$(echo "${S[$v]} / ${S[old]}" | bc -l)" "${T[$v]% }"
done
