#!/usr/bin/env bash
# systemd-analyze verify on the shipped unit, with the daemon's path pointing at this build
# (the package installs it at /usr/sbin/pbs-lockfs). Man pages are checked separately.
set -euo pipefail
unit=$1 daemon=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/sbin/pbs-lockfs|$daemon|" "$unit" > "$work/pbs-lockfs.service"
out=$(systemd-analyze verify --man=no "$work/pbs-lockfs.service" 2>&1) || { echo "$out"; exit 1; }
if [[ -n "$out" ]]; then echo "$out"; exit 1; fi
echo "pbs-lockfs.service: verified"
# The service holds only what it needs: systemd's own exposure rating, at most 4.0 (without the
# options that give the service a mount namespace, which would hide the mount from the host).
score=$(systemd-analyze security --offline=true "$work/pbs-lockfs.service" 2>&1 |
  sed -n 's/.*Overall exposure level for pbs-lockfs.service: \([0-9.]*\).*/\1/p')
[[ -n $score ]] || { echo "systemd-analyze security gave no rating"; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' || { echo "exposure $score is above 4.0"; exit 1; }
echo "pbs-lockfs.service: exposure $score"
