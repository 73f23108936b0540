// LockTreeMonitor: the daemon's eyes on the whole lock root. One thread watches every lock
// directory (LockTreeWatch), re-reads /proc/locks when a lock file shows activity (never by
// polling everything), keeps the live model of direct holders (DirectLockTracker), and for each
// change: makes the kernel forget the node's cached attributes (so a single `stat` shows a lock
// PBS or flock(1) took or released within milliseconds, not attr_timeout), and records the
// direct hold, wait or refused attempt in the history. It also publishes the recorder's events
// (log lines, journal entries) off the FUSE workers.
//
// Limits: a holder that only calls flock(LOCK_UN) without closing raises no event (it shows
// after attr_timeout); lock files with hashed names (escaped names of 255 bytes and more) are
// recorded but their node is refreshed by attr_timeout; holds taken before the daemon started
// are recorded from the first activity on their file.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "direct_lock_tracker.hpp"
#include "lock_event_recorder.hpp"
#include "lock_manager.hpp"
#include "lock_tree_watch.hpp"
#include "mount_model.hpp"
#include "mutex.hpp"
#include "unique_fd.hpp"
#include "wakeable_wait.hpp"

namespace pbs::fs {

class LockTreeMonitor {
 public:
  LockTreeMonitor(MountModel& model, LockEventRecorder& recorder, LockChangeListener& listener)
      : model_(model), recorder_(recorder), listener_(listener) {}
  ~LockTreeMonitor() { stop(); }

  /// Watches the lock tree and starts the thread. Without inotify (an error) the daemon runs
  /// as before the monitor existed: the caller logs it and goes on.
  Result<void> start();
  void stop();

  std::size_t watches() const { return watches_.load(); }
  std::size_t tracked() const { return tracked_.load(); }

  /// Holds the thread between two looks (what it has not read waits in the inotify queue)
  /// until thaw(), or the end of the program image: an upgrade in place of the daemon saves it
  /// meanwhile.
  void freeze() PBS_NO_THREAD_SAFETY_ANALYSIS;
  void thaw() PBS_NO_THREAD_SAFETY_ANALYSIS;

  /// The direct holders and waiters known and their events going on in the history, as an
  /// upgrade in place hands them to the next program image.
  struct Saved {
    struct OpenEvent {
      std::string lock_file;
      pid_t pid = 0;
      bool wait = false;
      LockEventRecorder::EventId id = 0;
    };
    std::vector<DirectLockTracker::SavedFile> files;
    std::vector<OpenEvent> events;
  };
  /// Frozen, or not started.
  Saved save() const PBS_NO_THREAD_SAFETY_ANALYSIS;
  /// Before start(): goes on from `saved` (each file re-checked soon: what changed while no
  /// program image watched shows then, and its events end).
  void restore(const Saved& saved);

 private:
  void run();
  void watch_and_record();
  /// One look: the events read (when `read_events`), the re-checks due, the log lines.
  void look(bool read_events, std::chrono::steady_clock::time_point& last_publish,
            std::chrono::steady_clock::time_point& last_forget);
  void recheck(const std::vector<std::string>& lock_files) PBS_REQUIRES(turn_);
  void record(const std::string& lock_file, const LockObject& object,
              const DirectLockTracker::Change& change) PBS_REQUIRES(turn_);
  /// The object whose lock file is `lock_file` (below the lock root), when its name says it.
  std::optional<LockObject> object_of(const std::string& lock_file) const;

  MountModel& model_;
  LockEventRecorder& recorder_;
  LockChangeListener& listener_;
  std::optional<LockTreeWatch> watch_;
  /// Held by the thread while it looks, and by freeze().
  Mutex turn_;
  DirectLockTracker tracker_ PBS_GUARDED_BY(turn_);
  /// Open direct holds and waits, by (lock file, pid, is a wait): their event in the history.
  std::map<std::tuple<std::string, pid_t, bool>, LockEventRecorder::EventId> open_events_
      PBS_GUARDED_BY(turn_);
  unsigned root_replacements_ = 0;
  WakeableWait sleep_;  ///< the monitor's thread sleeps here
  std::atomic<bool> running_{false};
  std::atomic<std::size_t> watches_{0};
  /// Changes before each batch of lock tree events is read (ProcLocksSnapshot::watch_activity).
  std::atomic<std::uint64_t> activity_{0};
  std::atomic<std::size_t> tracked_{0};
  std::thread thread_;
};

}  // namespace pbs::fs
