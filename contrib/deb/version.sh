#!/bin/sh
# Prints the version of the tree for --version and the .deb: a tag's
# (v1.2.3 -> 1.2.3; 1.2.3-4-gabc1234 -> 1.2.3+git4.abc1234), else
# 0.0~gitDATE.COMMIT of the last commit, which sorts before any tag.
if d=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
    echo "$d" | sed 's/^v//; s/-\([0-9]*\)-g/+git\1./'
elif c=$(git log -1 --format='%cd.%h' --date=format:%Y%m%d 2>/dev/null); then
    echo "0.0~git$c"
else
    echo 0.0
fi
