// The mount monitor: a small root process that outlives the unprivileged daemon only to unmount.
// An unprivileged process cannot unmount what root mounted, so the monitor forwards signals to
// the daemon, waits for it, and then detaches the mount (also after a crash, so that no stale
// ENOTCONN mount is left behind).
#pragma once

#include <sys/types.h>

#include <string>

namespace pbs::fs {

/// Runs in the parent after fork(): forwards SIGTERM, SIGINT, SIGHUP and SIGUSR1 to `daemon`,
/// waits for it, detaches `mountpoint` if our mount (device `mount_dev`) is still there, and
/// returns the daemon's exit code (128 + signal when it was killed).
int monitor_daemon(pid_t daemon, const std::string& mountpoint, dev_t mount_dev);

}  // namespace pbs::fs
