// The mount monitor: a small root process that outlives the unprivileged daemon only to unmount.
// An unprivileged process cannot unmount what root mounted, so the monitor takes the signals:
// a stop (SIGTERM, SIGINT) detaches the mount lazily and lets the daemon serve the open
// handles until the last is closed; a second stop or the grace period ends the daemon at once;
// SIGUSR1 and SIGHUP (reload) are passed on as SIGUSR1, SIGUSR2 (upgrade in place) as itself. After
// the daemon ends, also by a crash, it removes the mount, so that no stale ENOTCONN mount is left
// behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "mount_identity.hpp"

namespace pbs::fs {

struct MonitorSettings {
  std::string mountpoint;
  /// Ours, read right after mounting: only this mount is ever detached, never a later one.
  std::optional<MountIdentity> mount;
  std::optional<std::chrono::milliseconds> stop_grace;
};

/// Runs in the parent after fork() until `daemon` ends; returns the daemon's exit code (128 +
/// signal when it was killed). Tells systemd READY=1 once the mount answers and STOPPING=1.
int monitor_daemon(pid_t daemon, const MonitorSettings& settings);

}  // namespace pbs::fs
