// MountedDaemon: the real pbs-lockfs daemon mounted on a scratch mountpoint for one test, with a
// watchdog (a wedged FUSE mount would leave unkillable processes) and a thorough teardown.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pbs::test {

class MountedDaemon {
 public:
  /// Mounts at `mountpoint` (running `program`) with `options` (joined into one -o list) and waits
  /// until it answers.
  MountedDaemon(std::string mountpoint, std::vector<std::string> options, std::string log_path,
                std::chrono::seconds watchdog = std::chrono::seconds(90),
                std::vector<std::string> environment = {}, std::function<void()> before_exec = {},
                std::string program = PBS_LOCKFS_DAEMON);
  ~MountedDaemon();
  MountedDaemon(const MountedDaemon&) = delete;
  MountedDaemon& operator=(const MountedDaemon&) = delete;

  bool mounted() const { return mounted_; }
  /// The root monitor process (the one started).
  pid_t monitor_pid() const { return monitor_; }
  /// The unprivileged daemon process that serves the mount.
  pid_t daemon_pid() const;
  /// Sends SIGTERM and waits for the monitor to exit; returns its exit code. After the monitor
  /// ended by itself (see wait_for_exit), only returns the code and checks the mount is gone.
  int stop();
  /// Waits up to `timeout` for the monitor to end by itself; its exit code, or nothing.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
  std::string log() const;
  /// Whether the mount was still there after stop() (the monitor should have removed it).
  bool left_mounted() const { return left_mounted_; }

 private:
  void abort_connection();
  std::string mountpoint_;
  std::string log_path_;
  pid_t monitor_ = -1;
  std::optional<int> exit_code_;
  bool mounted_ = false;
  bool left_mounted_ = false;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool done_ = false;
  std::thread watchdog_;
};

/// Whether `path` is a pbs-lockfs (FUSE) mount that answers.
bool is_fuse_mount(const std::string& path);
/// A line of the mount's status file `<mount>/.pbs-lockfs`, e.g. mount_status(mnt, "pid"): the
/// text after "pid: " (empty when missing).
std::string mount_status(const std::string& mount, const std::string& name);
/// A line of /proc/<pid>/status, e.g. status_value(pid, "Threads:").
long status_value(pid_t pid, const std::string& field);

}  // namespace pbs::test
