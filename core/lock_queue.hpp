// LockQueue: how waiters wait for PBS locks, written once, with no threads and no FUSE.
//
// Waiters queue per lock file (`key`: its path below the lock root), first come first served.
// Only the head of a queue is tried: one flock(LOCK_NB) plus PBS's double-stat on a lock file
// kept open between attempts (reopening it would wake everybody watching it). When the head is
// granted, the next one is tried at once, so consecutive shared waiters are granted together;
// an exclusive waiter behind a shared holder waits even if more shared waiters come after it.
//
// A queue is retried when its owner says somebody let go (touch), when inotify reports its lock
// file closed (file_events: PBS, flock(1) and dying processes close it), and on a backoff timer,
// 1 ms doubling to 100 ms, for holders that flock(LOCK_UN) without closing. A waiter's deadline
// ends it with ETIMEDOUT. Each lock file has at most one due time, so the timers never outnumber
// the lock files that have waiters, however long they wait.
//
// Nothing here blocks: poll(now) does the attempts that are due and returns what ended. The
// daemon's lock manager calls it from its thread (and from a FUSE worker after a release through
// the mount); lock_waiting() calls it in a loop for a single waiter. Not thread-safe: the owner
// serialises every call.
//
// Worked example: A holds store1/vm-100 exclusively (directly, flock(1)). Waiters 1 (shared),
// 2 (shared), 3 (exclusive) are added. poll() tries 1: EWOULDBLOCK, next try in 1 ms. A closes
// the file: inotify reports it, file_events() + poll() try 1: granted; 2: granted (shared with
// 1); 3: EWOULDBLOCK, it stays the head until 1 and 2 let go.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lock.hpp"
#include "lock_file_watch.hpp"

namespace pbs {

class LockQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using WaiterId = std::uint64_t;

  static constexpr std::chrono::milliseconds kFirstBackoff{1};
  static constexpr std::chrono::milliseconds kMaxBackoff{100};

  /// What ended for a waiter: granted (error 0, `lock` held, or not held when the head check
  /// said the waiter was satisfied without a new lock) or failed with `error` (ETIMEDOUT, or the
  /// lock file's errno, with `message`).
  struct Outcome {
    WaiterId id = 0;
    int error = 0;
    std::string message;
    Lock lock;
  };

  /// What the owner says of a waiter that has reached the head, before it is tried.
  enum class HeadCheck {
    kTake,       ///< try to take its lock
    kSatisfied,  ///< it needs no new lock any more: grant it without taking one
  };

  /// `watch`: the inotify instance to watch lock files with (nullptr: timers only). It must
  /// outlive the queue; the owner reads it and passes the events to file_events().
  LockQueue(const LockRoot& root, LockFileWatch* watch) : root_(root), watch_(watch) {}
  LockQueue(const LockQueue&) = delete;
  LockQueue& operator=(const LockQueue&) = delete;
  ~LockQueue();

  /// Asked for each waiter that reaches the head (default: kTake).
  void set_head_check(std::function<HeadCheck(WaiterId)> check) { head_check_ = std::move(check); }

  /// Queues a waiter for `request` at the end of the queue of `key`; it is tried at the next
  /// poll(). `deadline`: Clock::time_point::max() for none. Ids must be unique while queued.
  void add(WaiterId id, const std::string& key, LockRequest request,
           Clock::time_point deadline = Clock::time_point::max());
  /// Takes a waiter out of its queue (interrupted, or its descriptor closed). False when it is
  /// not queued (never was, or ended already). The next in line is tried at the next poll().
  bool remove(WaiterId id);
  /// Retry `key` at the next poll(), with the backoff reset: somebody let go of it.
  void touch(const std::string& key);
  /// inotify reported these watch descriptors (from LockFileWatch::drain()): touch their keys.
  void file_events(const std::vector<int>& watch_descriptors);

  /// Tries every queue that was touched or is due at `now`; returns the waiters that ended, in
  /// the order they ended (per queue: queue order).
  std::vector<Outcome> poll(Clock::time_point now);
  /// Tries the queue of `key` now, whether due or not (touch + poll of that queue alone).
  std::vector<Outcome> poll(const std::string& key, Clock::time_point now);
  /// Ends every waiter: for stopping. Returns their ids in queue order.
  std::vector<WaiterId> clear();

  /// When poll() has something to do: now-or-earlier while a touched queue waits, max() when
  /// nothing is queued.
  Clock::time_point next_due() const;
  bool waiting(const std::string& key) const { return keys_.contains(key); }
  std::size_t waiters(const std::string& key) const;
  /// The waiters of `key`, in queue order.
  std::vector<WaiterId> queued(const std::string& key) const;
  std::size_t size() const { return index_.size(); }
  /// Due times scheduled: at most one per lock file with waiters.
  std::size_t timers() const { return timers_.size(); }
  /// Lock files watched with inotify: at most one per lock file with waiters.
  std::size_t watched() const { return by_watch_.size(); }

 private:
  struct Waiter {
    WaiterId id;
    LockRequest request;
    Clock::time_point deadline;
  };
  struct Key {
    std::deque<Waiter> waiters;
    std::size_t with_deadline = 0;     ///< waiters whose deadline is not max()
    std::optional<PendingLock> probe;  ///< the lock file, open while waiters wait
    unsigned probe_generation = 0;     ///< the probe file that `watch` watches
    int watch = -1;
    std::chrono::milliseconds backoff = kFirstBackoff;
    Clock::time_point due = Clock::time_point::max();
  };
  using KeyMap = std::unordered_map<std::string, Key>;

  void process(KeyMap::iterator key, Clock::time_point now, std::vector<Outcome>& out);
  void expire(Key& state, Clock::time_point now, std::vector<Outcome>& out);
  /// Takes the head out of its queue and reports it as ended.
  void end_head(Key& state, std::vector<Outcome>& out, int error, std::string message, Lock lock);
  void watch_probe(const std::string& key, Key& state);
  void schedule(const std::string& key, Key& state, Clock::time_point when);
  /// Forgets a key without waiters: its timer, its watch, its probe.
  void forget_if_idle(KeyMap::iterator key);

  const LockRoot& root_;
  LockFileWatch* watch_;
  std::function<HeadCheck(WaiterId)> head_check_;
  KeyMap keys_;
  std::unordered_map<WaiterId, std::string> index_;  ///< waiter -> its key
  std::unordered_map<int, std::string> by_watch_;    ///< inotify watch descriptor -> key
  std::set<std::string> touched_;
  std::set<std::pair<Clock::time_point, std::string>> timers_;  ///< (Key::due, key)
};

}  // namespace pbs
