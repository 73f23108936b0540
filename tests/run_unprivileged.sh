#!/bin/sh
# Runs a test program as nobody:nogroup without supplementary groups. The program is copied into
# a fresh directory under /tmp first: the build tree may be below a home directory that nobody
# cannot enter. Usage: run_unprivileged.sh PROGRAM [ARGS...]
set -eu
program=$1
shift
dir=$(mktemp -d /tmp/pbs-lockfs-unprivileged.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
cp "$program" "$dir/"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$dir/$(basename "$program")" "$@"
