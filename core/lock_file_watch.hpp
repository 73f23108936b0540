// LockFileWatch: inotify on lock files, to learn promptly that a direct holder (PBS, flock(1))
// may have let go: closing a file, or a holder dying, raises IN_CLOSE_* on it; removing or
// replacing it raises IN_ATTRIB / IN_DELETE_SELF. flock(LOCK_UN) raises nothing, so waiters
// still re-check on a backoff timer.
#pragma once

#include <vector>

#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

class LockFileWatch {
 public:
  static Result<LockFileWatch> create();

  /// Watches the file that `fd` has open (by inode, through /proc/self/fd). Returns the watch
  /// descriptor; watching an inode twice returns the same descriptor.
  Result<int> watch(int fd);
  void unwatch(int wd);
  /// Reads all pending events; returns the watch descriptors they were for.
  std::vector<int> drain();
  /// Readable when events are pending.
  int fd() const { return fd_.get(); }

 private:
  explicit LockFileWatch(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace pbs
