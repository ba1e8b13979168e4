#!/usr/bin/env bash
# Installs the Debian packages a make target needs, and nothing when they are
# all there (then it prints nothing).
#
#   scripts/setup.sh run    postgresql-15, redis-server (local runtime);
#                           debootstrap when a Docker engine answers (the
#                           datastore image is built from a Debian rootfs)
#   scripts/setup.sh test   what run needs, plus chromium (browser tests)
#
# OUTAGELAB_SETUP_DOCKER=1 counts Docker as answering (0: as not answering)
# instead of asking `docker info`.
#
# Exit status: 0 all present (or installed), 2 something is missing and this
# shell cannot install it (not root, or no apt-get): the command to run is
# printed; 64 bad usage; other: apt-get failed.
set -euo pipefail

usage() { echo "usage: $0 run|test" >&2; exit 64; }
[ $# -eq 1 ] || usage
mode=$1
case "$mode" in run | test) ;; *) usage ;; esac

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

docker_answers() {
	case "${OUTAGELAB_SETUP_DOCKER:-}" in
	1) return 0 ;;
	0) return 1 ;;
	esac
	have docker && timeout 5 docker info >/dev/null 2>&1
}

need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
have redis-server || need+=(redis-server)
if ! have debootstrap && docker_answers; then need+=(debootstrap); fi
if [ "$mode" = test ] && ! have chromium; then need+=(chromium); fi

((${#need[@]})) || exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
	why="not root"
	[ "$(id -u)" -ne 0 ] || why="no apt-get"
	echo "setup ($mode): missing Debian packages: ${need[*]}" >&2
	echo "setup ($mode): cannot install them here ($why); run as root on Debian:" >&2
	echo "  $cmd" >&2
	exit 2
fi

echo "setup ($mode): installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
