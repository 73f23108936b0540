// LockManager: takes, queues and releases the real PBS locks behind open handles.
//
// A lock that is free is taken inline by the FUSE worker (one flock(LOCK_NB)). A busy one, for a
// blocking open or flock(2), is queued per lock file, first come first served, and the worker
// returns at once: the manager's single thread retries the head of each queue when a holder
// through the mount lets go, when inotify reports the lock file closed (PBS, flock(1) and dying
// processes close it), and on a backoff timer (for flock(LOCK_UN) without close). The request is
// answered from that thread when granted, interrupted (EINTR) or timed out (ETIMEDOUT).
//
// Mutex order: FUSE's own request lock (held while it calls our interrupt callback), then
// mutex_, then an OpenHandle's mutex; never the other way round. Nothing calls into libfuse
// (answers, interrupt callbacks, invalidations through changed()) while holding either.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "lock_file_watch.hpp"
#include "lock_root.hpp"
#include "open_handle.hpp"
#include "request.hpp"

namespace pbs::fs {

class LockManager {
 public:
  using Clock = std::chrono::steady_clock;

  LockManager(const LockRoot& root, std::optional<std::chrono::milliseconds> wait_timeout);
  ~LockManager();

  /// Starts the waiting thread.
  Result<void> start();
  /// Ends the thread and answers every waiting request with EINTR.
  void stop();

  /// Opens `handle`: takes its lock (when `take_lock`) and answers `req` with fuse_reply_open,
  /// now or once granted. `nonblocking`: EWOULDBLOCK at once when busy.
  void open(Request req, const fuse_file_info& fi, std::shared_ptr<OpenHandle> handle,
            bool nonblocking, bool take_lock);
  /// The kernel released the handle (last close): drop its lock and forget it.
  void release(OpenHandle* handle);
  /// flock(2) on an open handle: LOCK_SH / LOCK_EX (convert or take), LOCK_UN, with LOCK_NB.
  /// `caller` is the process that called flock (any process sharing the descriptor may).
  void flock(Request req, OpenHandle* handle, int operation, pid_t caller);

  /// Calls `changed` (on the thread that made the change, before the request is answered) each
  /// time a handle's lock is taken, converted or let go: the daemon invalidates the kernel's
  /// cached attributes of the node so that `ls -l` shows it at once. Set before start().
  void on_change(std::function<void(const LockObject&)> changed) { changed_ = std::move(changed); }

  /// Every open handle of the lock `key`.
  std::vector<std::shared_ptr<OpenHandle>> handles(const std::string& key) const;
  /// Every open handle.
  std::vector<std::shared_ptr<OpenHandle>> all_handles() const;
  /// The objects held through the mount in one namespace of a store.
  std::vector<LockObject> held_in(const std::string& store, const Namespace& ns) const;
  /// How many requests wait for the lock `key`.
  std::size_t waiter_count(const std::string& key) const;
  std::size_t total_waiters() const;
  std::size_t total_handles() const;
  /// Re-checks and deadlines scheduled (bounded: one per key, plus each waiter's deadline).
  std::size_t pending_timers() const;

 private:
  struct Waiter;
  struct KeyState;
  struct Reply;  ///< an answer to send once mutex_ is released

  static void on_interrupt(fuse_req_t req, void* data);
  /// Whether a wait of process `waiter` for `mode` on `key` could only end when that process
  /// itself (or one of its ancestors, whose descriptors it usually inherited) lets go: a
  /// handle other than `own` held through the mount in a conflicting mode by such a process.
  bool waits_for_itself(const std::string& key, const OpenHandle* own, pid_t waiter,
                        LockMode mode) const;
  /// A handle other than `own` that `waiter` (or an ancestor) holds in a mode conflicting with
  /// `mode`, or nothing.
  std::shared_ptr<OpenHandle> held_by_itself(const std::string& key, const OpenHandle* own,
                                             pid_t waiter, LockMode mode) const;
  /// A queued request; `is_open` answers with fuse_reply_open, otherwise (flock) with 0.
  std::unique_ptr<Waiter> new_waiter(Request req, const fuse_file_info& fi,
                                     std::shared_ptr<OpenHandle> handle, LockMode mode,
                                     bool is_open);
  void enqueue(std::unique_ptr<Waiter> waiter);
  /// Answers an open whose lock is held (or that takes none): the handle is registered and the
  /// kernel gets its file handle; released at once when the opener is gone meanwhile.
  void opened(Request& req, fuse_file_info fi, std::shared_ptr<OpenHandle> handle);
  /// A handle now holds its lock: logged (debug) and the node's cached attributes invalidated.
  void announce_granted(OpenHandle& handle) const;
  void cancel(Waiter* waiter);
  void poke(const std::string& key);
  /// Serves the queue of `key` on the calling thread (after a holder through the mount let go).
  void hand_over(const std::string& key);
  void changed(const OpenHandle& handle) const {
    if (changed_) changed_(handle.request.object);
  }
  void run();
  void process(const std::string& key, std::vector<Reply>& replies);
  void schedule(const std::string& key, Clock::time_point when);
  void send(std::vector<Reply>& replies);
  void wake();
  void forget_if_idle(const std::string& key);

  std::function<void(const LockObject&)> changed_;
  const LockRoot& root_;
  std::optional<std::chrono::milliseconds> wait_timeout_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, KeyState> keys_;
  std::unordered_map<int, std::string> watched_;  ///< inotify watch descriptor -> key
  std::set<std::string> poked_;                   ///< keys to retry now
  std::vector<std::unique_ptr<Waiter>> cancelled_;
  using Due = std::pair<Clock::time_point, std::string>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> timers_;
  std::size_t waiters_ = 0;
  std::size_t handles_ = 0;

  std::optional<LockFileWatch> watch_;
  UniqueFd wake_fd_;
  UniqueFd epoll_fd_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace pbs::fs
