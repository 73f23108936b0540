// NodeLockState: who holds a lock node's real lock now, through the mount (with the real
// requester) or directly (PBS's proxy, flock(1), anything else, from /proc/locks), and who waits.
// What `ls -l`, a read of the node and its extended attributes show.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "lock.hpp"
#include "lock_holders.hpp"
#include "mutex.hpp"
#include "proc_locks.hpp"

namespace pbs::fs {

class ListingLookups;
struct MountModel;
struct Node;

using Holder = LockHolder;

struct NodeLockState {
  std::vector<Holder> holders;  ///< exclusive holders first
  std::size_t mount_waiters = 0;
  std::size_t direct_waiters = 0;
  /// Holders through the mount whose lock file is no longer the one at `lock_file` (the lock
  /// root was replaced, or the file removed under their hold): they exclude nobody PBS starts.
  std::size_t holders_of_replaced_files = 0;
  std::string lock_file;
  bool lock_file_exists = false;

  /// "free", "shared" or "exclusive".
  const char* state() const;
};

/// /proc/locks, read at most once per few milliseconds: one `ls -l` of a large group costs one
/// pass over it, while any lock taken or released shows in the next listing. With the lock tree
/// watched, a copy is also stale once the watcher has read that a lock file was opened or
/// closed after it was read (PBS and flock(1) open the file right before they flock it); what a
/// `stat` cached from a copy in between is dropped by the watcher's re-check 3 ms later.
class ProcLocksSnapshot {
 public:
  /// Lock tree activity, from the lock tree monitor: `generation` changes with each batch of
  /// events about lock files. Set before serving; nullptr when the monitor stops.
  void watch_activity(const std::atomic<std::uint64_t>* generation) {
    MutexLock lock(mutex_);
    activity_ = generation;
  }
  /// When a read of /proc/locks started: its age, and whether it may predate a file.
  struct ReadStart {
    std::chrono::steady_clock::time_point steady;
    /// The clock the kernel stamps inodes with (CLOCK_REALTIME_COARSE): a file whose ctime is
    /// before it existed, with its inode number, when the read began.
    struct timespec coarse_real {};
    static ReadStart now();
    /// Whether `file` may be younger than the read (its ctime is not before the read began):
    /// then a lock the read lists under its inode may be a removed file's.
    bool may_predate(const struct stat& file) const;
  };

  /// Shared and immutable: a stat of one entry does not copy the system's lock list.
  /// `fresh`: read now, whatever the copy's age (the extended attributes and the status text,
  /// which are never cached by the kernel and must be exact the moment they are read).
  std::shared_ptr<const std::vector<ProcLock>> current(bool fresh = false);
  /// The copy to look up the holders of `file` in: read again when the copy may be older than
  /// the file (ext4 hands a removed file's inode number to the next file at once, and the old
  /// file's locks in an older copy would show on the new one as phantom holders), or when a
  /// process the copy names as holding the file's lock no longer exists (it released the lock
  /// as it exited: the copy is older than that).
  std::shared_ptr<const std::vector<ProcLock>> current_for(const struct stat& file, bool fresh);
  /// Installs a fresh read (the lock tree monitor's, just before it invalidates attributes),
  /// started at `started` with the activity generation `generation`.
  void replace(std::shared_ptr<const std::vector<ProcLock>> locks, std::uint64_t generation,
               const ReadStart& started);
  /// Whether any process but this one holds or waits for a flock on filesystem `device` (as of
  /// current()): when none does, no lock file there has a direct holder to look for.
  bool others_lock_on(dev_t device);

 private:
  void install(std::shared_ptr<const std::vector<ProcLock>> locks) PBS_REQUIRES(mutex_);
  /// Whether the lock tree showed activity since the copy was read.
  bool activity_since_read() const PBS_REQUIRES(mutex_);

  /// current(), also read again when the copy is stale for `file` (stale_for).
  std::shared_ptr<const std::vector<ProcLock>> current(bool fresh, const struct stat* file);
  /// Whether the copy may predate `file`, or names a holder of its lock that has exited.
  bool stale_for(const struct stat& file) const PBS_REQUIRES(mutex_);

  Mutex mutex_;
  ReadStart read_at_ PBS_GUARDED_BY(mutex_);
  std::shared_ptr<const std::vector<ProcLock>> locks_ PBS_GUARDED_BY(mutex_) =
      std::make_shared<const std::vector<ProcLock>>();
  std::vector<dev_t> others_devices_
      PBS_GUARDED_BY(mutex_);  ///< of locks_, without this process's own locks
  const std::atomic<std::uint64_t>* activity_ PBS_GUARDED_BY(mutex_) = nullptr;
  std::uint64_t read_generation_ PBS_GUARDED_BY(mutex_) = 0;
};

/// When a direct holder was first seen, for holders whose start is unknown (the taker exited and
/// the process keeping its descriptor belongs to another user): `ls -l` then shows that time,
/// never 1970. Bounded: entries not asked about for ten minutes are forgotten.
class FirstSeen {
 public:
  std::chrono::system_clock::time_point of(dev_t device, ino_t inode, pid_t pid);

 private:
  struct Entry {
    std::chrono::system_clock::time_point first, last;
  };
  Mutex mutex_;
  std::map<std::tuple<dev_t, ino_t, pid_t>, Entry> entries_ PBS_GUARDED_BY(mutex_);
};

/// The lock state of `node`. `holders_only`: just what `ls -l` shows (holders), which skips
/// the lock file's stat whenever no other process has a flock on the lock root's filesystem.
/// `listing`: the lookups shared by the entries of one listing request (nullptr: its own).
NodeLockState node_lock_state(MountModel& fs, const Node& node, bool holders_only = false,
                              ListingLookups* listing = nullptr);

}  // namespace pbs::fs
