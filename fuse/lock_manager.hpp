// LockManager: takes, queues and releases the real PBS locks behind open handles.
//
// A lock that is free is taken inline by the FUSE worker (one flock(LOCK_NB)). A busy one, for a
// blocking open or flock(2), waits in core's LockQueue (per lock file, first come first served;
// the algorithm is there, unit-tested without FUSE) and the worker returns at once. This class
// adds what FUSE needs around it: the requests to answer, the interrupt callbacks (EINTR), the
// thread that polls the queue on inotify events, wake-ups and timers, and the registry of open
// handles that `ls -l` reads. A holder through the mount that lets go serves the queue on the
// worker that saw it (hand_over: one thread hop less on every handoff).
//
// Mutexes (fuse/THREADS.md has the whole daemon): queue_mutex_ guards the queue and the waiting
// requests, and is held while the queue opens and flocks lock files; registry_mutex_ guards what
// getattr/readdir read (open handles, waiter counts) and no system call is made under it, so a
// listing never waits behind a slow lock file. Order: libfuse's request lock (held while it
// calls on_interrupt), then queue_mutex_, then an OpenHandle's mutex or registry_mutex_ (a leaf:
// nothing is taken while holding it). Nothing
// calls into libfuse (answers, interrupt callbacks, invalidations through changed()) while
// holding any of them.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "lock_event_recorder.hpp"
#include "lock_file_watch.hpp"
#include "lock_queue.hpp"
#include "lock_root.hpp"
#include "mount_locks.hpp"
#include "mutex.hpp"
#include "open_handle.hpp"
#include "request.hpp"
#include "wakeable_wait.hpp"

namespace pbs::fs {

/// Told of every lock change through the mount (taken, converted, let go), on the thread that
/// made it and before the request is answered.
class LockChangeListener {
 public:
  virtual ~LockChangeListener() = default;
  virtual void changed(const LockObject& object) = 0;
};

/// A request waiting in the queue, as a program switch hands it over (program_state.hpp).
struct SavedWaiter {
  std::uint64_t unique = 0;  ///< the kernel's id of the request, answered by it later
  bool is_open = true;       ///< an open, or a flock(2) on handle `fh`
  LockMode mode = LockMode::kShared;
  pid_t requester = 0;
  /// When its wait_timeout ends, on CLOCK_MONOTONIC (steady_clock, the same for every program
  /// image until reboot), in nanoseconds; -1: none. The switch's own time counts in it.
  std::int64_t deadline_ns = -1;
  fuse_file_info fi{};           ///< of an open: what its answer needs
  std::uint64_t fh = 0;          ///< of a flock: the handle it converts
  std::uint64_t wait_event = 0;  ///< its wait in the history (0: none)
  /// Of an open: the handle to register once granted (not registered yet).
  std::shared_ptr<OpenHandle> handle;
};

class LockManager : public MountLocks {
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

  /// Tells `listener` each time a handle's lock is taken, converted or let go: the daemon
  /// invalidates the kernel's cached attributes of the node so that `ls -l` shows it at once.
  /// Set before start(); the listener must outlive the manager.
  void on_change(LockChangeListener& listener) { listener_ = &listener; }
  /// Records every hold, wait and refusal through the mount (the history). Set before start().
  void record_events(LockEventRecorder& recorder) { recorder_ = &recorder; }

  // MountLocks: what the tree model reads (under registry_mutex_ only).
  std::vector<std::shared_ptr<OpenHandle>> handles(const std::string& lock_file) const override;
  std::vector<LockObject> held_in(const std::string& store, const Namespace& ns,
                                  const ObjectFilter& keep) const override;
  std::size_t waiter_count(const std::string& lock_file) const override;

  /// The handle the kernel knows as file handle `fh`, kept alive by the caller's reference;
  /// nullptr once released (a READ or WRITE may still arrive for a handle the kernel has
  /// released, when its caller was killed meanwhile).
  std::shared_ptr<OpenHandle> handle_of(std::uint64_t fh) const;
  /// Every open handle.
  std::vector<std::shared_ptr<OpenHandle>> all_handles() const;
  /// The file handle the next open gets.
  std::uint64_t next_fh() const;
  /// Registers handles another program image of the daemon opened (their locks held, their file
  /// handles the kernel's), and the file handle the next open gets. Before start().
  void adopt(std::vector<std::shared_ptr<OpenHandle>> handles, std::uint64_t next_fh);
  /// Stops every change to the queue (the manager's thread blocks) for a program switch:
  /// until thaw(), or the end of the program image. Call with the workers paused.
  void freeze() PBS_NO_THREAD_SAFETY_ANALYSIS;
  void thaw() PBS_NO_THREAD_SAFETY_ANALYSIS;
  /// While frozen: the waiting requests, each queue in its order; EBUSY when a request is
  /// between the queue and its answer (granted or interrupted, not answered yet).
  Result<std::vector<SavedWaiter>> saved_waiters() PBS_NO_THREAD_SAFETY_ANALYSIS;
  /// Queues the requests an earlier image handed over, in their order (after start()).
  void resume_waiters(std::vector<SavedWaiter> waiters);
  std::size_t total_waiters() const;
  std::size_t total_handles() const;
  /// Re-checks and deadlines scheduled: at most one per lock file with waiters.
  std::size_t pending_timers() const;

 private:
  struct Waiter;
  struct Reply;  ///< an answer to send once queue_mutex_ is released

  static void on_interrupt(fuse_req_t req, void* data);
  /// A handle other than `own` that `waiter` (or an ancestor, whose descriptors it usually
  /// inherited) holds through the mount in a mode conflicting with `mode`, or nothing: a wait
  /// that only that process could end.
  std::shared_ptr<OpenHandle> held_by_itself(const OpenHandle& own, pid_t waiter,
                                             LockMode mode) const;
  /// The one acquire path of opens and flocks: take the lock now if it is free and nobody
  /// queues for it, else fail (nonblocking, EDEADLK) or queue. `requester`: the process asking.
  void acquire(std::unique_ptr<Waiter> waiter, bool nonblocking, pid_t requester);
  /// Queues `waiter`. `suspect`: it waits for a hold of its own process, which may be a close
  /// whose RELEASE has not reached us yet; if that hold is still there after a grace time, the
  /// wait ends with EDEADLK (end_self_deadlocks). No worker waits meanwhile.
  void enqueue(std::unique_ptr<Waiter> waiter, bool suspect,
               std::optional<Clock::time_point> deadline = std::nullopt) PBS_EXCLUDES(queue_mutex_);
  /// Ends with EDEADLK the suspects whose grace time is over and whose own hold is still there.
  void end_self_deadlocks(Clock::time_point now, std::vector<Reply>& replies)
      PBS_REQUIRES(queue_mutex_);
  /// Answers a waiter whose handle holds its lock now (or needs none).
  void grant(Waiter& waiter);
  /// Answers an open whose lock is held (or that takes none): the handle is registered and the
  /// kernel gets its file handle; released at once when the opener is gone meanwhile.
  void opened(Request& req, fuse_file_info fi, std::shared_ptr<OpenHandle> handle);
  /// A handle now holds its lock: logged (debug) and the node's cached attributes invalidated.
  void announce_granted(OpenHandle& handle) const;
  void cancel(Waiter* waiter) PBS_EXCLUDES(queue_mutex_);
  /// Somebody through the mount let go of `lock_file`: its queue is retried soon (poke, on the
  /// manager's thread) or now (hand_over, on the calling thread).
  void poke(const std::string& lock_file) PBS_EXCLUDES(queue_mutex_);
  void hand_over(const std::string& lock_file) PBS_EXCLUDES(queue_mutex_);
  /// What the queue asks of a waiter at its head.
  LockQueue::HeadCheck check_head(LockQueue::WaiterId id) PBS_REQUIRES(queue_mutex_);
  /// Turns the queue's outcomes into answers (sent later by send()).
  void collect(std::vector<LockQueue::Outcome> outcomes, std::vector<Reply>& replies)
      PBS_REQUIRES(queue_mutex_);
  /// Keeps waiter_counts_ in step with the queue: `delta` waiters more (or fewer) for a file.
  void count_waiters(const std::string& lock_file, long delta) PBS_REQUIRES(queue_mutex_)
      PBS_EXCLUDES(registry_mutex_);
  void changed(const OpenHandle& handle) const {
    if (recorder_ != nullptr) recorder_->hold_changed(handle);
    if (listener_ != nullptr) listener_->changed(handle.request.object);
  }
  void run() PBS_EXCLUDES(queue_mutex_);
  void send(std::vector<Reply>& replies) PBS_EXCLUDES(queue_mutex_);
  void wake();

  LockChangeListener* listener_ = nullptr;
  LockEventRecorder* recorder_ = nullptr;
  const LockRoot& root_;
  std::optional<std::chrono::milliseconds> wait_timeout_;

  mutable Mutex queue_mutex_ PBS_ACQUIRED_BEFORE(registry_mutex_);
  std::optional<LockQueue> queue_ PBS_GUARDED_BY(queue_mutex_);
  /// The requests waiting in queue_, by their queue id.
  std::unordered_map<LockQueue::WaiterId, std::unique_ptr<Waiter>> waiting_
      PBS_GUARDED_BY(queue_mutex_);
  LockQueue::WaiterId next_id_ PBS_GUARDED_BY(queue_mutex_) = 0;
  /// Waiters that wait for their own process's hold, by the end of their grace time.
  std::multimap<Clock::time_point, LockQueue::WaiterId> suspects_ PBS_GUARDED_BY(queue_mutex_);
  /// Interrupted waiters taken out of the queue, to be answered EINTR by the manager's thread.
  std::vector<std::unique_ptr<Waiter>> cancelled_ PBS_GUARDED_BY(queue_mutex_);

  mutable Mutex registry_mutex_;
  /// The open handles per lock file (path below the lock root).
  std::unordered_map<std::string, std::vector<std::shared_ptr<OpenHandle>>> handles_
      PBS_GUARDED_BY(registry_mutex_);
  std::size_t handle_count_ PBS_GUARDED_BY(registry_mutex_) = 0;
  /// The same handles by the file handle the kernel was given.
  std::unordered_map<std::uint64_t, std::shared_ptr<OpenHandle>> by_fh_
      PBS_GUARDED_BY(registry_mutex_);
  /// The next file handle (OpenHandle::fh); 0 is the status file's.
  std::uint64_t next_fh_ PBS_GUARDED_BY(registry_mutex_) = 1;
  /// How many requests wait per lock file, and in all: copies of the queue's counts, for
  /// getattr (updated under queue_mutex_ with the queue).
  std::unordered_map<std::string, std::size_t> waiter_counts_ PBS_GUARDED_BY(registry_mutex_);
  std::size_t waiter_total_ PBS_GUARDED_BY(registry_mutex_) = 0;

  std::optional<LockFileWatch> watch_;
  WakeableWait sleep_;  ///< the manager's thread sleeps here
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace pbs::fs
