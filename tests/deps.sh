#!/bin/sh
# Installs the Debian packages named as arguments that are missing.
# Run as root (CI is); otherwise it only lists what is missing.
set -eu
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "run 'sudo apt-get install$missing' (or make deps as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
