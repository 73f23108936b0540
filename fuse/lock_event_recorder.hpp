// LockEventRecorder: what the daemon remembers and logs about every lock: holds and waits
// through the mount (exact: the real requester, the outcome), and what the lock tree monitor saw
// of direct users (holds, waits, refused attempts). Events go into the history ring at once;
// their log lines (under systemd: journal entries with PBS_LOCK_* fields) are written later by
// publish() on the monitor's thread, which also looks up the commands of mount holders: a FUSE
// worker only copies a few fields, it never reads /proc or writes a log line for an event.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lock_history.hpp"
#include "lock_metrics.hpp"
#include "mutex.hpp"
#include "open_handle.hpp"
#include "result.hpp"

namespace pbs::fs {

/// Told when somebody wants a lock (waits for it or is refused), and when a holder through the
/// mount lets go: how holders learn they block somebody (ContentionNotifier).
class ContentionListener {
 public:
  virtual ~ContentionListener() = default;
  virtual void wanted(const LockObject& object, const std::string& why) = 0;
  virtual void let_go(const OpenHandle& handle) = 0;
};

class LockEventRecorder {
 public:
  using EventId = LockHistory::EventId;
  /// `journal`: write log lines as structured journal entries (sd_journal_send) instead of
  /// through spdlog.
  LockEventRecorder(std::size_t capacity, bool journal) : history_(capacity), journal_(journal) {}

  const LockHistory& history() const { return history_; }
  const LockMetrics& metrics() const { return metrics_; }
  /// Set before serving; the listener must outlive the recorder's use.
  void on_contention(ContentionListener& listener) { contention_ = &listener; }

  // Through the mount; called by the LockManager on whichever thread made the change.
  /// `handle`'s hold changed (taken, converted, let go): its hold event is started or ended.
  /// `since`: when a hold begun in an earlier program image of the daemon began (the event
  /// starts then, not now).
  void hold_changed(const OpenHandle& handle,
                    std::optional<std::chrono::system_clock::time_point> since = std::nullopt);
  /// The holder of `handle` wrote `reason`: its hold event shows it from now on.
  void reason_written(const OpenHandle& handle, const std::string& reason);
  EventId wait_started(const OpenHandle& handle, LockMode mode, pid_t requester);
  /// `error`: 0 when granted, else the errno the wait ended with.
  void wait_ended(EventId id, int error);
  /// A non-blocking attempt through the mount found the lock busy (EWOULDBLOCK).
  void refused(const OpenHandle& handle, LockMode mode, pid_t requester);

  // Direct users, from the monitor's thread.
  EventId record(LockEvent event);
  void finish(EventId id, LockEvent::Time end, std::string outcome);

  /// Completes the events recorded since the last call (commands of mount users) and writes one
  /// log line per start and end.
  void publish();
  /// Log lines dropped because publish() fell too far behind.
  std::uint64_t unpublished() const;

  /// The history, the metrics and the events going on, as an upgrade in place of the daemon
  /// hands them to the next program image (publish() first: log lines still to write are not).
  struct Saved {
    LockHistory::Saved history;
    LockMetrics::Counts metrics;
    std::vector<LockEvent> ongoing;  ///< holds and waits going on, as they began
    std::uint64_t unpublished = 0;
  };
  Saved save() const;
  /// Refused (EINVAL) unless the ids of `saved` fit together.
  static Result<void> check(const Saved& saved);
  /// Installs `saved` in this recorder (a fresh one, before anything is recorded), unless
  /// check() refuses it.
  Result<void> restore(Saved saved);
  /// The hold event of `handle` going on, if any (saved with the handle).
  std::optional<EventId> hold_event(const OpenHandle& handle) const;
  /// `handle`, taken over from an earlier program image, goes on with its hold event `id`;
  /// false when no such hold goes on (then hold_changed() begins a new one).
  bool continue_hold(const OpenHandle& handle, EventId id);
  /// A wait handed over from an earlier image: its event `id` goes on when it is a wait going
  /// on; otherwise a new wait begins (wait_started()).
  EventId continue_wait(EventId id, const OpenHandle& handle, LockMode mode, pid_t requester);

 private:
  struct Pending {
    EventId id = 0;
    bool ended = false;
    ProcessRef process;  ///< the mount user whose command is to be found, if any
  };
  struct Held {
    EventId id = 0;
    LockMode mode = LockMode::kShared;
  };
  LockEvent mount_event(const OpenHandle& handle, LockEvent::Type type, LockMode mode,
                        pid_t pid) const;
  /// Records an event that begins now: in the history, the metrics and (while it goes on)
  /// open_. Returns its id.
  EventId begin(LockEvent event);
  /// Ends event `id`: in the history and the metrics; `change` completes it (end, outcome).
  void end(EventId id, const std::function<void(LockEvent&)>& change);
  void queue(EventId id, bool ended, ProcessRef process = {});
  void write_log(const LockEvent& event, bool ended) const;

  /// Somebody wants the lock of `event`: its holders through the mount are told.
  void contended(const LockEvent& event) const;

  LockHistory history_;
  LockMetrics metrics_;
  ContentionListener* contention_ = nullptr;
  const bool journal_;
  Mutex publish_mutex_ PBS_ACQUIRED_BEFORE(mutex_);  ///< one publish() at a time
  mutable Mutex mutex_;
  std::unordered_map<const OpenHandle*, Held> holds_ PBS_GUARDED_BY(mutex_);
  /// Holds and waits going on, as they began: ended in the metrics even when the history's
  /// ring has dropped them meanwhile.
  std::unordered_map<EventId, LockEvent> open_ PBS_GUARDED_BY(mutex_);
  std::vector<Pending> pending_ PBS_GUARDED_BY(mutex_);
  std::uint64_t unpublished_ PBS_GUARDED_BY(mutex_) = 0;
};

}  // namespace pbs::fs
