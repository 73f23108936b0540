// The mount monitor: a small root process that outlives the unprivileged daemon only to unmount.
// An unprivileged process cannot unmount what root mounted, so the monitor forwards signals to
// the daemon, waits for it, and then detaches the mount (also after a crash, so that no stale
// ENOTCONN mount is left behind).
#pragma once

#include <sys/types.h>

#include <string>

namespace pbs::fs {

/// The device ("maj:min") of the FUSE mount at `mountpoint`, from /proc/self/mountinfo (a stat()
/// would ask the daemon itself, which may not be serving yet). Empty when there is none.
std::string fuse_mount_device(const std::string& mountpoint);

/// Runs in the parent after fork(): forwards SIGTERM, SIGINT, SIGHUP and SIGUSR1 to `daemon`,
/// waits for it, detaches `mountpoint` if our mount (device `mount_device`) is still there, and
/// returns the daemon's exit code (128 + signal when it was killed).
int monitor_daemon(pid_t daemon, const std::string& mountpoint, const std::string& mount_device);

}  // namespace pbs::fs
