// NodeLockState: who holds a lock node's real lock now, through the mount (with the real
// requester) or directly (PBS's proxy, flock(1), anything else, from /proc/locks), and who waits.
// What `ls -l`, a read of the node and its extended attributes show.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "lock.hpp"
#include "proc_locks.hpp"

namespace pbs::fs {

struct Filesystem;
struct Node;

struct Holder {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  std::string command;
  LockMode mode = LockMode::kShared;
  std::chrono::system_clock::time_point since;  ///< for direct holders: when the process started
  bool via_mount = false;
  std::string reason;
  std::string task;  ///< the PBS task (UPID and type) of a direct holder, where one matches
};

struct NodeLockState {
  std::vector<Holder> holders;  ///< exclusive holders first
  std::size_t mount_waiters = 0;
  std::size_t direct_waiters = 0;
  std::string lock_file;
  bool lock_file_exists = false;

  /// "free", "shared" or "exclusive".
  const char* state() const;
};

/// /proc/locks, read at most once per few milliseconds: one `ls -l` of a large group costs one
/// pass over it, while any lock taken or released shows in the next listing.
class ProcLocksSnapshot {
 public:
  std::vector<ProcLock> current();

 private:
  std::mutex mutex_;
  std::chrono::steady_clock::time_point read_at_;
  std::vector<ProcLock> locks_;
};

NodeLockState node_lock_state(Filesystem& fs, const Node& node);

/// `pid=1234 command=flock uid=0 mode=exclusive since=2026-01-01T00:00:00Z via=direct`
/// (and ` reason=…` for holders that wrote one).
std::string describe_holder(const Holder& holder);
/// `2026-01-01T00:00:00Z`.
std::string iso_time(std::chrono::system_clock::time_point when);

}  // namespace pbs::fs
