#!/usr/bin/env bash
# Runs the peers benchmark (make bench-peers): installs what the peers
# need the way the tests install theirs, then runs the harness against a
# private MariaDB (scripts/mariadb-test.sh) and prints the Markdown table.
#
#   ding-dong      npm, pinned in dingdong/package-lock.json (Node from Debian if missing)
#   panoramisk     Debian's python3-panoramisk, run with Debian's /usr/bin/python3
#   River, goqite  Go modules of this directory's own go.mod
#
# Everything runs on 127.0.0.1 and is bounded (the harness stops itself
# after 20 minutes at most). Extra arguments go to the harness, e.g.
# -only agi,queue or -sessions 5000.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}
apt_install() {
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "bench-peers: installing Node.js and npm from Debian's packages for ding-dong" >&2
	apt_install nodejs npm
fi
if ! /usr/bin/python3 -c 'import panoramisk' >/dev/null 2>&1; then
	echo "bench-peers: installing python3-panoramisk from Debian's packages" >&2
	apt_install python3-panoramisk
fi
(cd "$here/dingdong" && npm ci --no-audit --no-fund --silent)

bin=$(mktemp -d "${TMPDIR:-/tmp}/callbackd-peers.XXXXXX")
trap 'rm -rf "$bin"' EXIT
(cd "$here" && ${GO:-go} build -o "$bin/peers" .)
cd "$here"
bash "$root/scripts/mariadb-test.sh" "$bin/peers" "$@"
