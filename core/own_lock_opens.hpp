// OwnLockOpens: this process's own opens and closes of lock files, counted per file, so that a
// watcher of the lock tree can tell other processes' opens from ours (inotify reports that a
// file was opened or closed, never by whom). Off, and free, until a watcher turns it on.
//
// LockFileFd is the descriptor of an open lock file that counts itself: every lock file the
// lock protocol opens (Lock, PendingLock) is one, so no open or close of ours goes uncounted.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <utility>

#include "mutex.hpp"
#include "unique_fd.hpp"

namespace pbs {

class OwnLockOpens {
 public:
  struct Counts {
    unsigned opens = 0;
    unsigned closes = 0;
  };

  static OwnLockOpens& instance();

  void enable(bool on) { enabled_.store(on, std::memory_order_relaxed); }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void opened(dev_t device, ino_t inode) { count(device, inode, 1, 0); }
  void closed(dev_t device, ino_t inode) { count(device, inode, 0, 1); }
  /// The counts for a file since the last take(), reset to zero.
  Counts take(dev_t device, ino_t inode);
  /// Drops counts not taken for `age`: the watcher never saw their events (a directory it does
  /// not watch, events lost), and they must not swallow a later stranger's open.
  void forget_older_than(std::chrono::steady_clock::duration age);

 private:
  struct Entry {
    Counts counts;
    std::chrono::steady_clock::time_point updated;
  };
  void count(dev_t device, ino_t inode, unsigned opens, unsigned closes);

  std::atomic<bool> enabled_{false};
  Mutex mutex_;
  std::map<std::pair<dev_t, ino_t>, Entry> entries_ PBS_GUARDED_BY(mutex_);
};

/// An open lock file's descriptor, counted in OwnLockOpens while that is enabled.
class LockFileFd {
 public:
  LockFileFd() = default;
  /// `st`: the file's stat, taken at its open.
  LockFileFd(UniqueFd fd, const struct stat& st);
  /// A descriptor opened by an earlier program image of this process (an upgrade in place): its
  /// open was that image's to count, its close is this one's.
  static LockFileFd adopted(UniqueFd fd, const struct stat& st);
  LockFileFd(LockFileFd&& other) noexcept
      : fd_(std::move(other.fd_)),
        device_(other.device_),
        inode_(other.inode_),
        counted_(other.counted_) {
    other.counted_ = false;
  }
  LockFileFd& operator=(LockFileFd&& other) noexcept;
  LockFileFd(const LockFileFd&) = delete;
  LockFileFd& operator=(const LockFileFd&) = delete;
  ~LockFileFd() { reset(); }

  int get() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  explicit operator bool() const { return valid(); }
  void reset();
  dev_t device() const { return device_; }
  ino_t inode() const { return inode_; }

 private:
  UniqueFd fd_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  bool counted_ = false;  ///< false when accounting was off when it was opened
};

}  // namespace pbs
