// DirectLockTracker: the live model of the direct holders and waiters (PBS, flock(1): any process
// but this one) of the lock files that show activity, and what changed between two looks.
//
// Driven from outside: activity() for each inotify event on a lock file (an open, a close, a
// create, a removal), then update() for each file that due() names, with a fresh /proc/locks.
// flock(2) raises no inotify event, and the kernel reports a close before it lets go of the
// close's lock, so one event is followed by several re-checks: 3, 10, 20, 35, 100 and 250 ms
// after the last activity on that file. A file stays tracked while it has direct holders or waiters
// or a re-check pending; the rest is forgotten (memory follows the busy lock files, not the tree).
//
// A refused direct attempt (PBS's LOCK_NB try, which never shows in /proc/locks) is a close by
// another process that neither ended a hold nor a wait, while the file was held: counted from
// the closes inotify saw minus this process's own (OwnLockOpens). Who made it is unknown.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lock.hpp"
#include "own_lock_opens.hpp"
#include "proc_locks.hpp"

namespace pbs {

class DirectLockTracker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Activity { kOpened, kClosed, kCreated, kRemoved };

  /// One direct change between two looks at a lock file.
  struct Change {
    enum class Kind { kHoldStarted, kHoldEnded, kWaitStarted, kWaitEnded, kRefused };
    Kind kind = Kind::kHoldStarted;
    pid_t pid = 0;  ///< 0 for kRefused: unknown
    LockMode mode = LockMode::kShared;
    bool granted = false;  ///< kWaitEnded: the waiter went on to hold the lock
    /// kRefused: every holder at the time was shared, so the close may also have been a shared
    /// hold too short to be seen between two looks.
    bool uncertain = false;
  };
  struct Update {
    bool state_changed = false;  ///< holders or waiters differ: what `stat` shows changed
    /// Another process opened or closed the file since the last look: its state may have
    /// changed and back in between (a hold shorter than the first re-check), and a `stat`
    /// meanwhile may have seen it, so what the kernel cached is to be dropped either way.
    bool foreign_activity = false;
    std::vector<Change> changes;
  };

  /// Something happened to `lock_file` (its path below the lock root). `held_through_mount`:
  /// whether the mount held it when the event was read (a refused attempt followed at once by
  /// the holder's release is still a refusal).
  void activity(const std::string& lock_file, Activity what, Clock::time_point now,
                bool held_through_mount = false);
  /// Lock files whose re-check is due at `now`.
  std::vector<std::string> due(Clock::time_point now) const;
  /// When the next re-check is due; Clock::time_point::max() when none is.
  Clock::time_point next_due() const;

  /// Re-checks `lock_file`: `identity` is the (device, inode) now at its path (nothing when it is
  /// gone), `locks` a fresh /proc/locks, `self` this process's pid (its locks are the mount's,
  /// known better elsewhere), `own` this process's opens and closes of the file since the last
  /// update (OwnLockOpens::take), `mount_holds` how the mount holds it now (exclusive first).
  Update update(const std::string& lock_file, std::optional<std::pair<dev_t, ino_t>> identity,
                const std::vector<ProcLock>& locks, pid_t self, OwnLockOpens::Counts own,
                const std::vector<LockMode>& mount_holds, Clock::time_point now);

  /// The (device, inode) last seen at `lock_file`, if tracked.
  std::optional<std::pair<dev_t, ino_t>> identity(const std::string& lock_file) const;
  std::size_t tracked() const { return files_.size(); }
  /// Own closes whose inotify report never came within `age` (events lost) are no longer
  /// waited for; files with nothing left to watch are forgotten.
  void forget_debts(Clock::time_point now, Clock::duration age);

  /// A tracked file's direct holders and waiters, as an upgrade in place of the daemon hands
  /// them to the next program image (the counts of inotify events are not: the next image
  /// watches with a new inotify instance).
  struct SavedFile {
    struct Direct {
      pid_t pid = 0;
      LockMode mode = LockMode::kShared;
      bool waiting = false;
    };
    std::string lock_file;
    std::optional<std::pair<dev_t, ino_t>> identity;
    std::vector<Direct> direct;
  };
  std::vector<SavedFile> save() const;
  /// Tracks the files of `saved` (an empty tracker's), each re-checked from `now` on as after
  /// an activity: what changed while no image watched shows within the re-checks.
  void restore(const std::vector<SavedFile>& saved, Clock::time_point now);

 private:
  struct Seen {
    LockMode mode = LockMode::kShared;
    bool waiting = false;
  };
  struct File {
    std::optional<std::pair<dev_t, ino_t>> identity;
    std::map<pid_t, Seen> direct;  ///< by pid, as /proc/locks showed them at the last look
    long opens = 0;   ///< inotify opens minus our own (negative: ours, event still to come)
    long closes = 0;  ///< inotify closes minus our own (negative: ours, event still to come)
    Clock::time_point owed_since;  ///< since when `closes` is negative
    bool held_at_activity =
        false;  ///< held (through the mount) when an event since the last look came
    Clock::time_point last_activity;
    std::size_t step = 0;  ///< how many of the re-checks after last_activity were done
  };

  std::map<std::string, File> files_;
};

}  // namespace pbs
