// WakeableWait: a thread's sleep until one descriptor is readable (an inotify instance) or
// another thread wakes it (an eventfd), whichever comes first: one epoll set of the two. The
// lock manager's and the lock tree monitor's threads sleep in one each.
#pragma once

#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs::fs {

class WakeableWait {
 public:
  /// Makes the eventfd and the epoll set watching `watched_fd` (which stays the caller's).
  Result<void> open(int watched_fd);
  /// Sleeps at most `timeout_ms` (-1: no limit). True when the watched descriptor is readable;
  /// a wake-up is consumed.
  bool wait(int timeout_ms);
  /// Ends the sleeping thread's current or next wait. Any thread.
  void wake();

 private:
  int watched_ = -1;
  UniqueFd wake_fd_;
  UniqueFd epoll_fd_;
};

}  // namespace pbs::fs
