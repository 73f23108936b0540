#!/usr/bin/env bash
# Boots a clean Debian root (this machine's release, or RELEASE) with real systemd in a
# container (systemd-nspawn -b, /dev/fuse bound in), with the built package installed and a
# datastore configured, and checks what the README promises of the unit:
#   - after boot pbs-lockfs.service is active and /run/pbs-locks is mounted;
#   - a lock taken through the mount is held on the real lock file;
#   - `systemctl reload` keeps it;
#   - `systemctl stop` is polite: the mount is detached at once, the held lock stays held until
#     its holder closes it, then the service ends;
#   - installing the package again with a higher version keeps a held lock (no restart) and the
#     history, and the same daemon process runs the new program (postinst: pbs-lockctl upgrade);
#   - `systemctl restart` mounts again; `systemctl kill` ends the daemon, the kernel frees its
#     locks and systemd restarts it (Restart=on-failure);
#   - the journal has the daemon's lines with their syslog priorities, and lock events as entries
#     with PBS_LOCK_* fields that journalctl filters on; pbs-lockctl history reads the daemon's.
# The container is stopped and its root removed afterwards, also on failure.
#   tests/boot_test.sh PACKAGE.deb [RELEASE]
#   tests/boot_test.sh --prepare DIR [RELEASE]   only makes the container's root in DIR, for a
#                                                later run with BOOT_TEST_ROOT=DIR (tools/test
#                                                makes it in the background while it builds)
set -euo pipefail
. /etc/os-release
here=$(cd "$(dirname "$0")/.." && pwd)
# A minimal root of `release` in `dir` with systemd.
make_root() {
  mmdebstrap --quiet --variant=minbase \
    --include=systemd,systemd-sysv,dbus,util-linux,attr,procps "$1" "$2" "$("$here/tools/debian-mirror")"
}
if [[ ${1:-} == --prepare ]]; then
  make_root "${3:-$VERSION_CODENAME}" "${2:?usage: boot_test.sh --prepare DIR [RELEASE]}"
  exit 0
fi
deb=$(realpath "${1:?usage: boot_test.sh PACKAGE.deb [RELEASE]}")
release=${2:-$VERSION_CODENAME}

leader=
# Every thread of the container's pbs-lockfs processes with its kernel wait channel and stack:
# where a daemon that does not end is stuck.
daemon_threads() {
  local pid task
  for pid in $(pgrep -f '^/usr/sbin/pbs-lockfs' || true); do
    [[ $(readlink "/proc/$pid/ns/pid") == "$(readlink "/proc/$leader/ns/pid")" ]] || continue
    echo "boot_test: threads of pbs-lockfs (pid $pid here):"
    for task in /proc/"$pid"/task/*; do
      echo "  ${task##*/} $(cat "$task/comm" 2>/dev/null) $(cat "$task/wchan" 2>/dev/null)"
      sed 's/^/      /' "$task/stack" 2>/dev/null | head -8 || true
    done
  done
}
fail() {
  echo "boot_test: FAIL: $*" >&2
  if [[ -n $leader ]]; then
    echo "boot_test: the service's journal:" >&2
    nsenter --target "$leader" --all --root --wd -- journalctl -u pbs-lockfs --no-pager 2>&1 | tail -30 >&2
    daemon_threads >&2 || true
  fi
  [[ ! -s $root.holder ]] || { echo "boot_test: the holder said:" >&2; cat "$root.holder" >&2; }
  # For a look inside by hand: nsenter --target LEADER --all
  if [[ -n ${BOOT_TEST_KEEP:-} ]]; then echo "boot_test: leader $leader; kept 600 s" >&2; sleep 600; fi
  exit 1
}
step() { echo "boot_test: $*"; }

for tool in mmdebstrap systemd-nspawn; do
  command -v "$tool" >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends mmdebstrap systemd-container >/dev/null
  }
done
root=${BOOT_TEST_ROOT:-$(mktemp -d /var/tmp/pbs-lockfs-boot.XXXXXX)}
machine=pbs-lockfs-boot-$$
nspawn=
cleanup() {
  if [[ -n $nspawn ]] && kill -0 "$nspawn" 2>/dev/null; then
    kill -TERM "$nspawn" 2>/dev/null || true  # nspawn asks the container's systemd to power off
    for _ in $(seq 1 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn" 2>/dev/null || true
    wait "$nspawn" 2>/dev/null || true
  fi
  { grep -s " $root" /proc/self/mounts || true; } | awk '{print $2}' | sort -r |
    while read -r m; do umount --lazy "$m" 2>/dev/null || true; done
  if ! grep -qs " $root" /proc/self/mounts; then rm -rf --one-file-system "$root"; fi
  # systemd-nspawn leaves its lock file of the directory beside it.
  rm -f "$root.console" "$root.upgrade.log" "$root.holder" "$(dirname "$root")/.#$(basename "$root").lck"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${BOOT_TEST_ROOT:-} ]]; then
  step "making a $release root with systemd"
  make_root "$release" "$root"
fi
cp "$deb" "$root/tmp/pbs-lockfs.deb"
# The same package with a higher version, for the upgrade.
upgrade=$(mktemp -d)
dpkg-deb --raw-extract "$deb" "$upgrade/pkg"
sed -i 's/^Version: \(.*\)$/Version: \1.1/' "$upgrade/pkg/DEBIAN/control"
dpkg-deb --build "$upgrade/pkg" "$root/var/tmp/pbs-lockfs-upgrade.deb" >/dev/null
rm -rf "$upgrade"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# mmdebstrap leaves no package lists behind: fetch them to resolve the package's dependencies.
chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq /tmp/pbs-lockfs.deb' >"$root/tmp/install.log" 2>&1 ||
  { cat "$root/tmp/install.log" >&2; fail "apt-get install"; }
snapshot=2024-01-01T00:00:00Z
mkdir -p "$root/srv/store1/vm/100/$snapshot" "$root/etc/proxmox-backup"
printf 'datastore: store1\n\tpath /srv/store1\n' >"$root/etc/proxmox-backup/datastore.cfg"
echo "$machine" >"$root/etc/hostname"

step "booting it (systemd-nspawn -b)"
systemd-nspawn --quiet --boot --directory="$root" --machine="$machine" --register=no --keep-unit \
  --bind=/dev/fuse --console=passive \
  >"$root.console" 2>&1 &
nspawn=$!
# The container's init: the descendant of nspawn that is PID 1 in its own PID namespace (newer
# nspawn forks an intermediate process first).
container_init() {
  local todo=("$nspawn") p child
  while [[ ${#todo[@]} -gt 0 ]]; do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    for child in $(cat /proc/"$p"/task/*/children 2>/dev/null || true); do
      if awk '/^NSpid:/ { exit !(NF > 2 && $NF == 1) }' /proc/"$child"/status 2>/dev/null; then
        echo "$child"
        return
      fi
      todo+=("$child")
    done
  done
}
for _ in $(seq 1 300); do
  leader=$(container_init)
  [[ -n $leader ]] && break
  sleep 0.1
done
[[ -n $leader ]] || fail "the container did not start: $(cat "$root.console")"
# Its systemd is up once the leader runs systemd (nspawn forks before it execs).
# --root and --wd: the container init's own root (nspawn run in a chroot may chroot rather than
# pivot_root, so entering its mount namespace alone does not reach it).
inside() { nsenter --target "$leader" --all --root --wd -- "$@"; }
state=
for _ in $(seq 1 300); do
  state=$(inside systemctl is-system-running 2>/dev/null || true)
  [[ $state == running || $state == degraded ]] && break
  sleep 0.2
done
[[ $state == running || $state == degraded ]] || fail "boot did not finish ($state)"

lock_file="/run/proxmox-backup/locks/store1/vm-100-2024\\x2d01\\x2d01T00\\x3a00\\x3a00Z"
node=/run/pbs-locks/store1/vm/100/$snapshot
# Held: the lock file exists and another process cannot flock it (opened without O_CREAT, which
# flock(1) would use: a root-owned lock file would lock PBS out).
held() { inside bash -c 'exec 8<"$1" && ! flock -n -x 8' held "$lock_file" 2>/dev/null; }

step "after boot the service is active and /run/pbs-locks is mounted"
[[ $(inside systemctl is-active pbs-lockfs) == active ]] ||
  fail "pbs-lockfs is not active: $(inside systemctl status pbs-lockfs --no-pager 2>&1 | tail -20)"
inside findmnt -n -t fuse.pbs-lockfs /run/pbs-locks >/dev/null || fail "/run/pbs-locks is not mounted"
[[ $(inside systemctl is-enabled pbs-lockfs) == enabled ]] || fail "not enabled"
# Hardened (at most 4.0 in systemd's rating), and still mounted where the host sees it: the
# check above ran in the namespace of the container's PID 1, not the service's.
score=$(inside systemd-analyze security pbs-lockfs.service 2>&1 |
  sed -n 's/.*Overall exposure level for pbs-lockfs.service: \([0-9.]*\).*/\1/p')
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 4.0) }' || fail "exposure rating '$score' is above 4.0"

step "a lock through the mount is the real lock"
inside setsid bash -c "exec 9>'$node'; echo boot-test >&9; exec sleep 600" </dev/null \
  >/dev/null 2>"$root.holder" &
holder=$!
for _ in $(seq 1 100); do held && break; sleep 0.1; done
held || fail "the lock is not held on $lock_file"

step "systemctl reload keeps it"
inside systemctl reload pbs-lockfs
sleep 0.5
held || fail "reload dropped the lock"
[[ $(inside systemctl is-active pbs-lockfs) == active ]] || fail "not active after reload"

step "the history has the hold with its reason, across the reload; the journal has its fields"
history=$(inside pbs-lockctl history --json "store1:vm/100/$snapshot")
grep -q '"type":"hold"' <<<"$history" && grep -q '"reason":"boot-test' <<<"$history" ||
  fail "the hold is not in pbs-lockctl history: $history"
for _ in $(seq 1 50); do
  inside journalctl -u pbs-lockfs "PBS_LOCK_OBJECT=vm/100/$snapshot" PBS_LOCK_EVENT=hold-start \
    -o json --no-pager 2>/dev/null | grep -q '"PBS_LOCK_VIA":"mount"' && break
  sleep 0.1
done
entry=$(inside journalctl -u pbs-lockfs "PBS_LOCK_OBJECT=vm/100/$snapshot" PBS_LOCK_EVENT=hold-start \
  -o json --no-pager)
for field in '"PBS_LOCK_VIA":"mount"' '"PBS_LOCK_STORE":"store1"' '"PBS_LOCK_MODE":"exclusive"' \
  '"PBS_LOCK_HOLDER_PID":"' '"PBS_LOCK_KIND":"snapshot"'; do
  grep -q "$field" <<<"$entry" || fail "journalctl PBS_LOCK_OBJECT= has no $field: $entry"
done

step "installing the package again with a higher version keeps it and the history, and the daemon runs the new program"
serving=$(inside sed -n 's/^pid: //p' /run/pbs-locks/.pbs-lockfs)
[[ -n "$serving" ]] || fail "the status file names no daemon"
sleep 0.5  # the last direct attempt (held) is in the history by now
history=$(inside pbs-lockctl history --json)
inside dpkg -i /var/tmp/pbs-lockfs-upgrade.deb >"$root.upgrade.log" 2>&1 ||
  fail "upgrade: $(cat "$root.upgrade.log")"
# Every event as it was (the hold still going on, the same ids); later ones may follow.
after=$(inside pbs-lockctl history --json)
[[ -n $history && ${after:0:${#history}} == "$history" ]] ||
  fail "the upgrade lost the history: before: $history; after: $after"
[[ $(inside dpkg-query -W -f='${Version}' pbs-lockfs) == *.1 ]] || fail "not upgraded"
held || fail "the upgrade dropped the lock"
[[ $(inside systemctl is-active pbs-lockfs) == active ]] || fail "not active after the upgrade"
grep -q "upgraded in place" "$root.upgrade.log" || fail "the postinst did not upgrade: $(cat "$root.upgrade.log")"
[[ $(inside sed -n 's/^pid: //p' /run/pbs-locks/.pbs-lockfs) == "$serving" ]] ||
  fail "another process serves after the upgrade"
exe=$(inside readlink "/proc/$serving/exe")
[[ "$exe" == */sbin/pbs-lockfs ]] || fail "the daemon runs $exe, not the new program"
inside grep -q '^last upgrade: done' /run/pbs-locks/.pbs-lockfs ||
  fail "status: $(inside cat /run/pbs-locks/.pbs-lockfs)"

step "systemctl stop is polite: detached at once, the lock stays until closed"
inside systemctl stop --no-block pbs-lockfs
for _ in $(seq 1 100); do
  inside findmnt -n /run/pbs-locks >/dev/null 2>&1 || break
  sleep 0.1
done
inside findmnt -n /run/pbs-locks >/dev/null 2>&1 && fail "stop did not detach the mount"
held || fail "stop dropped a held lock"
kill "$holder" 2>/dev/null || true
inside pkill -f "sleep 600" || true
for _ in $(seq 1 100); do
  [[ $(inside systemctl is-active pbs-lockfs || true) == inactive ]] && break
  sleep 0.1
done
[[ $(inside systemctl is-active pbs-lockfs || true) == inactive ]] ||
  fail "the service did not end once the last handle was closed"
held && fail "the lock is still held after its holder closed it"

step "systemctl restart mounts again"
inside systemctl restart pbs-lockfs
[[ $(inside systemctl is-active pbs-lockfs) == active ]] || fail "restart"
inside findmnt -n -t fuse.pbs-lockfs /run/pbs-locks >/dev/null || fail "not mounted after restart"

step "systemctl kill: locks are freed, systemd starts it again"
inside setsid bash -c "exec 9<'$node'; exec sleep 600" </dev/null >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 100); do held && break; sleep 0.1; done
held || fail "the lock is not held before kill"
inside systemctl kill --signal=SIGKILL pbs-lockfs
for _ in $(seq 1 100); do held || break; sleep 0.1; done
held && fail "a killed daemon's lock is still held"
for _ in $(seq 1 100); do
  inside findmnt -n -t fuse.pbs-lockfs /run/pbs-locks >/dev/null 2>&1 &&
    [[ $(inside systemctl is-active pbs-lockfs || true) == active ]] && break
  sleep 0.1
done
[[ $(inside systemctl is-active pbs-lockfs || true) == active ]] || fail "not restarted after kill"
kill "$holder" 2>/dev/null || true
inside pkill -f "sleep 600" || true

step "the monitor keeps only CAP_SYS_ADMIN and CAP_KILL; the daemon none"
main=$(inside systemctl show -p MainPID --value pbs-lockfs)
[[ $(inside grep CapEff "/proc/$main/status") == *0000000000200020 ]] ||
  fail "monitor: $(inside grep Cap "/proc/$main/status")"
daemon=$(inside pgrep -P "$main" pbs-lockfs)
[[ $(inside grep CapEff "/proc/$daemon/status") == *0000000000000000 ]] || fail "daemon has capabilities"

step "without DAC capabilities the lock root is created inside PBS's own /run/proxmox-backup"
inside systemctl stop pbs-lockfs
inside rm -rf /run/proxmox-backup
inside install -d -o backup -g backup -m 0755 /run/proxmox-backup
inside systemctl start pbs-lockfs
[[ $(inside stat -c '%U:%G %a' /run/proxmox-backup/locks) == "backup:backup 755" ]] ||
  fail "lock root: $(inside stat -c '%U:%G %a' /run/proxmox-backup/locks 2>&1)"
inside bash -c "exec 9>'$node'" || fail "no lock through the mount with the hardened unit"

step "mounted from fstab (in the background): its lines reach the journal"
inside mkdir -p /run/pbs-locks-fstab
inside mount -t fuse.pbs-lockfs -o lock_group=backup pbs-lockfs /run/pbs-locks-fstab ||
  fail "the mount helper failed"
inside findmnt -n -t fuse.pbs-lockfs /run/pbs-locks-fstab >/dev/null || fail "not mounted by the helper"
inside setpriv --reuid=65534 --regid=65534 --clear-groups ls /run/pbs-locks-fstab/store1 \
  >/dev/null 2>&1 && fail "nobody could list the mount"
for _ in $(seq 1 50); do
  inside journalctl -t pbs-lockfs --no-pager 2>/dev/null | grep -q 'EACCES' && break
  sleep 0.1
done
inside journalctl -t pbs-lockfs --no-pager | grep -q 'EACCES' ||
  fail "the background daemon's refusal is not in the journal: $(inside journalctl -t pbs-lockfs --no-pager | tail -5)"
inside umount /run/pbs-locks-fstab

step "the journal has the daemon's lines with their priorities"
journal=$(inside journalctl -u pbs-lockfs -o json --no-pager)
grep -q '"MESSAGE":"mounted /run/pbs-locks' <<<"$journal" || fail "no 'mounted' line in the journal"
grep -q '"PRIORITY":"6"' <<<"$journal" || fail "no info-priority line in the journal"

step "passed"
