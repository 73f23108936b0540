#!/usr/bin/env bash
# Installs the Debian package on this machine and proves it works, then removes it again:
#   tests/package_install.sh build-deb/pbs-lockfs_<version>_<arch>.deb
# 1. dpkg -i; the files are where mount(8), systemd and man look for them; dpkg --verify clean.
# 2. The unit's own command lines (ExecStartPre, ExecStart, ExecStopPost) mount /run/pbs-locks,
#    the mount answers, SIGTERM (what systemctl stop sends) unmounts it.
# 3. An fstab line of type fuse.pbs-lockfs mounts through /sbin/mount.fuse.pbs-lockfs; a lock
#    taken by opening a node is the real PBS lock (a second process's flock fails), and is
#    released on close.
# 4. dpkg --purge removes every file.
# Run as root. Refuses to touch a machine where pbs-lockfs is already installed.
set -euo pipefail
deb=$(realpath "${1:?usage: package_install.sh PACKAGE.deb}")
here=$(cd "$(dirname "$0")/.." && pwd)

fail() { echo "package_install: FAIL: $*" >&2; exit 1; }
step() { echo "package_install: $*"; }
is_fuse_mount() { grep -qs " $1 fuse.pbs-lockfs " /proc/self/mounts; }

if dpkg-query -W -f='${Status}' pbs-lockfs 2>/dev/null | grep -q "ok installed"; then
  fail "pbs-lockfs is already installed here; this test installs and purges it (use a scratch machine)"
fi
is_fuse_mount /run/pbs-locks && fail "/run/pbs-locks is already mounted"

scratch=$(mktemp -d /tmp/pbs-lockfs-package.XXXXXX)
chmod 755 "$scratch"
installed=no
run_dir_existed=$([[ -e /run/proxmox-backup ]] && echo yes || echo no)
cleanup() {
  exec 9>&- || true
  for m in "$scratch/mnt" /run/pbs-locks; do is_fuse_mount "$m" && umount --lazy "$m"; done
  [[ $installed == no ]] || dpkg --purge pbs-lockfs >/dev/null 2>&1 || true
  rm -rf "$scratch"
  # The daemon creates PBS's run directory when PBS has not (yet); leave no trace of ours.
  [[ $run_dir_existed == yes ]] || rm -rf /run/proxmox-backup
}
trap cleanup EXIT

step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; fail "dpkg -i"; }
installed=yes
for f in /usr/sbin/pbs-lockfs /usr/bin/pbs-lockctl /sbin/mount.pbs-lockfs \
  /sbin/mount.fuse.pbs-lockfs /lib/systemd/system/pbs-lockfs.service; do
  [[ -x $f || ( $f == *.service && -f $f ) ]] || fail "$f is not installed"
done
for page in pbs-lockfs.8 pbs-lockctl.1 mount.pbs-lockfs.8 mount.fuse.pbs-lockfs.8; do
  man -w "${page%.*}" >/dev/null 2>&1 || fail "man page $page is not installed"
done
[[ -z $(dpkg --verify pbs-lockfs) ]] || fail "dpkg --verify: $(dpkg --verify pbs-lockfs)"
version=$(dpkg-query -W -f='${Version}' pbs-lockfs)
/usr/sbin/pbs-lockfs --version | grep -q "^pbs-lockfs ${version%%+*}$" ||
  fail "pbs-lockfs --version does not match the package version $version"
# One build per Debian release: its version says which, and it depends on that release's libfuse.
. /etc/os-release
release=${VERSION_ID%%.*}
[[ $version == *+deb$release ]] || fail "version $version is not marked +deb$release"
depends=$(dpkg-query -W -f='${Depends}' pbs-lockfs)
case $release in
12) [[ $depends == *libfuse3-3* ]] || fail "Depends lacks libfuse3-3: $depends" ;;
13) [[ $depends == *libfuse3-4* ]] || fail "Depends lacks libfuse3-4: $depends" ;;
esac
# The postinst enables the unit (debhelper found it): the wants link exists even without a
# running systemd.
[[ -L /etc/systemd/system/multi-user.target.wants/pbs-lockfs.service ]] ||
  fail "the postinst did not enable pbs-lockfs.service"
systemd-analyze verify /lib/systemd/system/pbs-lockfs.service || fail "systemd-analyze verify"

step "the unit's command lines mount /run/pbs-locks"
# Runs the unit's KEY= lines as systemd would: split at blanks, a leading "-" allows failure.
run_unit_lines() {
  local line command
  while read -r line; do
    read -ra command <<<"${line#-}"
    if [[ $line == -* ]]; then "${command[@]}" 2>/dev/null || true; else "${command[@]}"; fi
  done < <(sed -n "s/^$1=//p" /lib/systemd/system/pbs-lockfs.service)
}
run_unit_lines ExecStartPre
read -ra exec_start <<<"$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pbs-lockfs.service)"
"${exec_start[@]}" >"$scratch/unit.log" 2>&1 &
service=$!
for _ in $(seq 100); do is_fuse_mount /run/pbs-locks && break; sleep 0.1; done
is_fuse_mount /run/pbs-locks || { cat "$scratch/unit.log" >&2; fail "ExecStart did not mount"; }
grep -q "^pbs-lockfs" /run/pbs-locks/.pbs-lockfs || fail "the mount does not answer"
kill -TERM "$service"
wait "$service" || fail "the daemon exited with $? on SIGTERM: $(cat "$scratch/unit.log")"
run_unit_lines ExecStopPost
is_fuse_mount /run/pbs-locks && fail "/run/pbs-locks is still mounted after stop"

step "an fstab line of type fuse.pbs-lockfs mounts through the helper"
"$here/tools/make-demo-datastore" "$scratch/store" >/dev/null
mkdir "$scratch/mnt"
cat >"$scratch/fstab" <<FSTAB
pbs-lockfs $scratch/mnt fuse.pbs-lockfs allow_other,nofail,store=demo:$scratch/store,lock_root=$scratch/locks 0 0
FSTAB
mount --verbose --fstab "$scratch/fstab" "$scratch/mnt" >"$scratch/mount.log" 2>&1 ||
  { cat "$scratch/mount.log" >&2; fail "mount"; }
grep -q "mount.fuse.pbs-lockfs: /usr/sbin/pbs-lockfs" "$scratch/mount.log" ||
  fail "mount(8) did not use /sbin/mount.fuse.pbs-lockfs: $(cat "$scratch/mount.log")"
is_fuse_mount "$scratch/mnt" || fail "not mounted"

step "a lock through the mount is the real PBS lock"
node=$scratch/mnt/demo/vm/100/2024-01-01T00:00:00Z
lockfile=$(pbs-lockctl path --lock-root "$scratch/locks" demo vm/100/2024-01-01T00:00:00Z)
exec 9>"$node"
[[ $(stat -c %U:%G:%a "$lockfile") == backup:backup:660 ]] || fail "lock file $(stat -c %U:%G:%a "$lockfile")"
flock --nonblock --shared "$lockfile" true && fail "a second process got the lock held through the mount"
[[ $(stat -c %A "$node") == --w--w---- ]] || fail "ls -l does not show the exclusive lock: $(stat -c %A "$node")"
exec 9>&-
for _ in $(seq 50); do flock --nonblock --exclusive "$lockfile" true && break; sleep 0.1; done
flock --nonblock --exclusive "$lockfile" true || fail "the lock was not released on close"
umount "$scratch/mnt"
for _ in $(seq 50); do is_fuse_mount "$scratch/mnt" || break; sleep 0.1; done
is_fuse_mount "$scratch/mnt" && fail "umount left the mount"

step "dpkg --purge removes everything"
files=$(dpkg -L pbs-lockfs | while read -r f; do [[ -d $f ]] || echo "$f"; done)
dpkg --purge pbs-lockfs >"$scratch/dpkg.log" 2>&1 || { cat "$scratch/dpkg.log" >&2; fail "dpkg --purge"; }
installed=no
for f in $files; do [[ -e $f || -L $f ]] && fail "$f is left after purge"; done
step "passed"
