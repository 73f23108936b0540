// LockHistory: the daemon's memory of lock events, a bounded ring: the newest `capacity` events,
// the oldest dropped (and counted) when full. A hold or wait is one event, recorded when it
// starts and completed in place when it ends, so "who held vm/100 at 02:13" is answered by one
// event even while the hold goes on. Thread-safe; recording costs one mutex and a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "lock_event.hpp"
#include "mutex.hpp"
#include "result.hpp"

namespace pbs {

class LockHistory {
 public:
  using EventId = std::uint64_t;

  explicit LockHistory(std::size_t capacity) : capacity_(capacity) {}

  /// Records `event` (its id is set) and returns its id.
  EventId record(LockEvent event);
  /// Ends the hold or wait `id`: sets its end and outcome. False when it was dropped meanwhile.
  bool finish(EventId id, LockEvent::Time end, std::string outcome);
  /// Changes event `id` in place (a command learnt later, a reason written during the hold).
  bool update(EventId id, const std::function<void(LockEvent&)>& change);
  /// A copy of event `id`, if still in the ring.
  std::optional<LockEvent> find(EventId id) const;

  /// Every event in the ring, oldest first.
  std::vector<LockEvent> events() const;
  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }
  /// Events dropped to keep the bound.
  std::uint64_t dropped() const;

  /// The ring as an upgrade in place of the daemon hands it to the next program image.
  struct Saved {
    std::vector<LockEvent> events;  ///< oldest first, ids consecutive
    EventId next_id = 1;
    std::uint64_t dropped = 0;
  };
  Saved save() const;
  /// Refused (EINVAL) unless the ids of `saved` are consecutive and below its next_id.
  static Result<void> check(const Saved& saved);
  /// Replaces the ring with `saved` (the oldest events beyond this ring's capacity dropped and
  /// counted), unless check() refuses it.
  Result<void> restore(Saved saved);

 private:
  LockEvent* at(EventId id) PBS_REQUIRES(mutex_);

  const std::size_t capacity_;
  mutable Mutex mutex_;
  std::deque<LockEvent> ring_ PBS_GUARDED_BY(mutex_);  ///< ids consecutive, oldest first
  EventId next_id_ PBS_GUARDED_BY(mutex_) = 1;
  std::uint64_t dropped_ PBS_GUARDED_BY(mutex_) = 0;
};

}  // namespace pbs
