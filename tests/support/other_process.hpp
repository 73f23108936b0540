// Locks taken and probed from another process with plain flock(2) or util-linux flock(1):
// the native comparison every lock test checks against.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace pbs::test {

/// From a forked child: opens `path` and tries flock(`operation` | LOCK_NB).
/// Returns true when the child got the lock (it then exits, releasing it).
bool other_process_can_flock(const std::string& path, int operation);

/// Polls `condition` until it is true or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// A child process holding flock(`operation`) on `path` (opened O_RDONLY, as flock(1) does)
/// until release() or destruction. Construction returns once the lock is held.
class FlockHolder {
 public:
  FlockHolder(const std::string& path, int operation);
  ~FlockHolder();
  FlockHolder(const FlockHolder&) = delete;
  FlockHolder& operator=(const FlockHolder&) = delete;

  /// Ends the child (closing its descriptor, which releases the lock) and reaps it.
  void release();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int release_pipe_ = -1;
};

/// A hold whose taker has exited: `take` runs in a child (the taker), which then forks a keeper
/// that inherits its descriptors (and so its locks) and exits. As when a shell starts a
/// background job and ends. `taker` is 0 when `take` failed.
struct OrphanedHold {
  pid_t taker = 0;
  pid_t keeper = 0;
  OrphanedHold(const OrphanedHold&) = delete;
  OrphanedHold& operator=(const OrphanedHold&) = delete;
  explicit OrphanedHold(const std::function<bool()>& take);
  /// Kills the keeper, which releases what it holds.
  ~OrphanedHold();
};

/// What a shell command (run by popen) printed on standard output, and its exit code (128 + the
/// signal when it was killed; -1 when it could not run).
struct CommandOutput {
  std::string out;
  int code = -1;
};
CommandOutput run_command(const std::string& command);

/// Starts a command (e.g. {"flock", "-x", path, "sleep", "600"}) in a new process group and
/// returns its pid.
pid_t spawn_command(const std::vector<std::string>& argv);
/// Sends SIGKILL to the process group `pid` started by spawn_command and reaps its leader.
void kill_and_reap(pid_t pid);
/// Waits for `pid` and returns its exit status (or 128+signal).
int wait_exit_code(pid_t pid);

}  // namespace pbs::test
