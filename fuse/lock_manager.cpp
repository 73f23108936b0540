// The lock manager: inline fast path, core's LockQueue for waiters, one waiting thread; see the
// header.
#include "lock_manager.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <set>

#include "impossible_state.hpp"

namespace pbs::fs {

namespace {
// Waiters alive: requests taken by the manager and not answered yet (one manager per process).
std::atomic<std::size_t> g_waiters_alive{0};
}  // namespace

struct LockManager::Waiter {
  Waiter() { ++g_waiters_alive; }
  ~Waiter() { --g_waiters_alive; }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  LockManager* manager = nullptr;  ///< for the interrupt callback
  LockQueue::WaiterId id = 0;
  Request req;
  fuse_file_info fi{};
  std::shared_ptr<OpenHandle> handle;
  LockMode mode = LockMode::kShared;
  bool is_open = true;  ///< an open (reply_open) or a flock (reply_err 0)
  pid_t requester = 0;  ///< the process that asked (the opener, or the flock's caller)
  Clock::time_point deadline = Clock::time_point::max();  ///< of its wait_timeout
  LockEventRecorder::EventId wait_event = 0;              ///< in the history, while it waits
  // Guarded by the manager's queue_mutex_ (not annotated: Clang cannot tie `manager` to this):
  bool queued = false;
  bool cancelled = false;
};

struct LockManager::Reply {
  std::unique_ptr<Waiter> waiter;
  int error = 0;
  std::string message;
  Lock lock;  ///< the granted lock when error == 0 (not held: the handle holds already)
};

namespace {

// How long a process's own conflicting hold may linger before its wait is called a deadlock:
// the RELEASE of a handle it just closed usually arrives within microseconds, rarely in a few
// milliseconds (p99 45-135 us measured), later under load: 64 client threads on 2 cores with
// ASan, the lock tree watcher and the event log beside them once took over 250 ms (CI saw a
// false EDEADLK), so a second. A wait that only its own process can end fails that late.
constexpr std::chrono::milliseconds kSelfDeadlockGrace{1000};

}  // namespace

LockManager::LockManager(const LockRoot& root,
                         std::optional<std::chrono::milliseconds> wait_timeout)
    : root_(root), wait_timeout_(wait_timeout) {}

LockManager::~LockManager() {
  stop();
}

Result<void> LockManager::start() {
  auto watch = LockFileWatch::create();
  if (!watch) return watch.error();
  watch_.emplace(std::move(watch.value()));
  if (auto ok = sleep_.open(watch_->fd()); !ok) return ok.error();
  {
    MutexLock lock(queue_mutex_);
    queue_.emplace(root_, &*watch_);
    queue_->set_head_check([this](LockQueue::WaiterId id)
                               PBS_REQUIRES(queue_mutex_) { return check_head(id); });
  }
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return {};
}

void LockManager::stop() {
  if (!running_.exchange(false)) return;
  wake();
  thread_.join();
  std::vector<Reply> replies;
  {
    MutexLock lock(queue_mutex_);
    for (auto id : queue_->clear()) {
      count_waiters(waiting_.at(id)->handle->lock_file, -1);
      replies.push_back({std::move(waiting_.at(id)), EINTR, "the daemon stops", {}});
      waiting_.erase(id);
    }
    for (auto& w : cancelled_)
      replies.push_back({std::move(w), EINTR, {}, {}});
    cancelled_.clear();
    suspects_.clear();
  }
  send(replies);
}

void LockManager::wake() {
  sleep_.wake();
}

void LockManager::open(Request req, const fuse_file_info& fi, std::shared_ptr<OpenHandle> handle,
                       bool nonblocking, bool take_lock) {
  if (!take_lock) return opened(req, fi, std::move(handle));
  auto waiter = std::make_unique<Waiter>();
  waiter->req = std::move(req);
  waiter->fi = fi;
  waiter->mode = handle->request.mode;
  waiter->is_open = true;
  const pid_t opener = handle->opener.pid();
  waiter->handle = std::move(handle);
  acquire(std::move(waiter), nonblocking, opener);
}

void LockManager::acquire(std::unique_ptr<Waiter> waiter, bool nonblocking, pid_t requester) {
  OpenHandle& handle = *waiter->handle;
  bool queue_busy = false;
  {
    MutexLock lock(queue_mutex_);
    queue_busy = queue_->waiting(handle.lock_file);
  }
  if (!queue_busy) {
    LockRequest request = handle.request;
    request.mode = waiter->mode;
    auto taken = try_lock(root_, std::move(request));
    if (taken) {
      {
        MutexLock hold(handle.mutex);
        handle.take(std::move(taken.value()));
      }
      return grant(*waiter);
    }
    if (taken.error().code != EWOULDBLOCK) {
      spdlog::warn("lock {}: {}", handle.request.object.describe(), taken.error().message);
      return waiter->req.error(taken.error().code);
    }
  }
  if (nonblocking) {
    if (recorder_ != nullptr) recorder_->refused(handle, waiter->mode, requester);
    return waiter->req.error(EWOULDBLOCK);
  }
  waiter->requester = requester;
  const bool suspect = held_by_itself(handle, requester, waiter->mode) != nullptr;
  enqueue(std::move(waiter), suspect);
}

void LockManager::grant(Waiter& waiter) {
  if (waiter.is_open) return opened(waiter.req, waiter.fi, std::move(waiter.handle));
  announce_granted(*waiter.handle);
  waiter.req.error(0);  // a flock(2) answers success that way
}

void LockManager::announce_granted(OpenHandle& handle) const {
  if (!handle.holds()) return;
  if (spdlog::should_log(spdlog::level::debug)) {
    MutexLock hold(handle.mutex);
    spdlog::debug("locked {} {} for pid {} ({})", handle.request.object.describe(),
                  to_string(handle.held_mode()), handle.opener.pid(), handle.command_locked());
  }
  changed(handle);
}

void LockManager::opened(Request& req, fuse_file_info fi, std::shared_ptr<OpenHandle> handle) {
  announce_granted(*handle);
  {
    MutexLock lock(registry_mutex_);
    handle->fh = next_fh_++;
    fi.fh = handle->fh;
    handles_[handle->lock_file].push_back(handle);
    by_fh_[fi.fh] = handle;
    ++handle_count_;
  }
  // The caller is gone (killed while we answered): no release will ever come.
  if (!req.open(fi)) release(handle.get());
}

std::shared_ptr<OpenHandle> LockManager::held_by_itself(const OpenHandle& own, pid_t waiter,
                                                        LockMode mode) const {
  const std::string lock_file = root_.absolute(own.request.object.lock_path());
  for (auto& h : handles(own.lock_file)) {
    if (h.get() == &own || !h->holds()) continue;
    if (mode == LockMode::kShared && h->held_mode() == LockMode::kShared) continue;
    if (!h->opener.is_same_or_ancestor_of(waiter)) continue;
    // A hold on a lock file destroyed under it (PBS's prune) cannot be what this wait waits for.
    MutexLock hold(h->mutex);
    if (h->holds_file_at(lock_file)) return h;
  }
  return nullptr;
}

void LockManager::end_self_deadlocks(Clock::time_point now, std::vector<Reply>& replies) {
  while (!suspects_.empty() && suspects_.begin()->first <= now) {
    const LockQueue::WaiterId id = suspects_.begin()->second;
    suspects_.erase(suspects_.begin());
    auto found = waiting_.find(id);
    if (found == waiting_.end()) continue;  // granted or interrupted meanwhile
    Waiter& w = *found->second;
    auto culprit = held_by_itself(*w.handle, w.requester, w.mode);
    if (!culprit) continue;  // its own close has arrived: it waits like any other
    spdlog::warn(
        "lock {} ({}) refused to pid {}: EDEADLK (held {} through the mount by {} {}; the wait "
        "could never end)",
        culprit->request.object.describe(), to_string(w.mode), w.requester,
        to_string(culprit->held_mode()),
        culprit->opener.pid() == w.requester ? "itself, pid" : "its ancestor, pid",
        culprit->opener.pid());
    queue_->remove(id);
    count_waiters(w.handle->lock_file, -1);
    replies.push_back({std::move(found->second), EDEADLK, {}, {}});
    waiting_.erase(found);
  }
}

void LockManager::enqueue(std::unique_ptr<Waiter> waiter, bool suspect,
                          std::optional<Clock::time_point> deadline) {
  Waiter* raw = waiter.get();
  if (deadline) {
    raw->deadline = *deadline;
  } else if (wait_timeout_) {
    raw->deadline = Clock::now() + *wait_timeout_;
  }
  raw->manager = this;
  if (recorder_ != nullptr) {
    // A wait handed over by an upgrade goes on with its event.
    raw->wait_event =
        raw->wait_event != 0
            ? recorder_->continue_wait(raw->wait_event, *raw->handle, raw->mode, raw->requester)
            : recorder_->wait_started(*raw->handle, raw->mode, raw->requester);
  }
  // Once queued, the waiter belongs to the manager thread, which may answer and free it at
  // once: nothing below the queueing may touch it (the stress test caught this log line).
  spdlog::debug("waiting for {} ({})", raw->handle->request.object.describe(),
                to_string(raw->mode));
  // Registered before anybody else can see the waiter; may run on_interrupt right away.
  raw->req.on_interrupt(&LockManager::on_interrupt, raw);
  std::unique_ptr<Waiter> interrupted;
  {
    MutexLock lock(queue_mutex_);
    if (!raw->cancelled) {
      raw->queued = true;
      raw->id = ++next_id_;
      LockRequest request = raw->handle->request;
      request.mode = raw->mode;
      queue_->add(raw->id, raw->handle->lock_file, std::move(request), raw->deadline);
      count_waiters(raw->handle->lock_file, 1);
      // A close() reaches us as an asynchronous RELEASE a moment later: a process that closes
      // and reopens at once still seems to hold. Only a hold of its own that stays is a deadlock.
      if (suspect) suspects_.emplace(Clock::now() + kSelfDeadlockGrace, raw->id);
      waiting_[raw->id] = std::move(waiter);
    } else {
      interrupted = std::move(waiter);
    }
  }
  if (interrupted) {  // before it was queued
    if (recorder_ != nullptr) recorder_->wait_ended(interrupted->wait_event, EINTR);
    return interrupted->req.error(EINTR);
  }
  wake();
}

void LockManager::on_interrupt(fuse_req_t, void* data) {
  auto* waiter = static_cast<Waiter*>(data);
  waiter->manager->cancel(waiter);
}

void LockManager::cancel(Waiter* waiter) {
  MutexLock lock(queue_mutex_);
  waiter->cancelled = true;
  // Not queued yet (enqueue answers it), or ended already (being answered by whoever ended it).
  if (!waiter->queued || !queue_->remove(waiter->id)) return;
  count_waiters(waiter->handle->lock_file, -1);
  auto found = waiting_.find(waiter->id);
  cancelled_.push_back(std::move(found->second));
  waiting_.erase(found);
  wake();  // the manager's thread answers it and tries the next in line
}

LockQueue::HeadCheck LockManager::check_head(LockQueue::WaiterId id) {
  Waiter& head = *waiting_.at(id);
  // A flock(2) of a handle that another thread's flock on the same descriptor got meanwhile:
  // as with flock(2) on one open file description, the same mode is granted at once; another
  // mode is a conversion, which lets go first and then waits like any other.
  if (head.is_open || !head.handle->holds()) return LockQueue::HeadCheck::kTake;
  if (head.handle->held_mode() == head.mode) return LockQueue::HeadCheck::kSatisfied;
  {
    MutexLock hold(head.handle->mutex);
    head.handle->drop();
  }
  if (recorder_ != nullptr) recorder_->hold_changed(*head.handle);
  return LockQueue::HeadCheck::kTake;
}

void LockManager::collect(std::vector<LockQueue::Outcome> outcomes, std::vector<Reply>& replies) {
  for (auto& outcome : outcomes) {
    auto found = waiting_.find(outcome.id);
    count_waiters(found->second->handle->lock_file, -1);
    replies.push_back({std::move(found->second), outcome.error, std::move(outcome.message),
                       std::move(outcome.lock)});
    waiting_.erase(found);
  }
}

void LockManager::hand_over(const std::string& lock_file) {
  std::vector<Reply> replies;
  {
    MutexLock lock(queue_mutex_);
    if (!queue_->waiting(lock_file)) return;
    collect(queue_->poll(lock_file, Clock::now()), replies);
  }
  send(replies);
}

void LockManager::poke(const std::string& lock_file) {
  {
    MutexLock lock(queue_mutex_);
    if (!queue_->waiting(lock_file)) return;
    queue_->touch(lock_file);
  }
  wake();
}

void LockManager::release(OpenHandle* handle) {
  std::shared_ptr<OpenHandle> keep;
  const std::string lock_file = handle->lock_file;
  {
    MutexLock lock(registry_mutex_);
    auto found = handles_.find(lock_file);
    if (found != handles_.end()) {
      auto& list = found->second;
      auto it =
          std::find_if(list.begin(), list.end(), [&](const auto& h) { return h.get() == handle; });
      if (it != list.end()) {
        keep = std::move(*it);
        list.erase(it);
        by_fh_.erase(handle->fh);
        --handle_count_;
      }
      if (list.empty()) handles_.erase(found);
    }
  }
  if (!keep) {
    impossible_state("release of an unknown handle for " + lock_file);
    return;
  }
  std::vector<Reply> replies;
  {
    // A flock(2) of this handle still waiting: its descriptor is gone.
    MutexLock lock(queue_mutex_);
    std::vector<LockQueue::WaiterId> orphans;
    for (auto id : queue_->queued(lock_file)) {
      if (waiting_.at(id)->handle.get() == handle) orphans.push_back(id);
    }
    for (auto id : orphans) {
      queue_->remove(id);
      count_waiters(lock_file, -1);
      replies.push_back({std::move(waiting_.at(id)), EBADF, {}, {}});
      waiting_.erase(id);
    }
  }
  bool held = false;
  {
    MutexLock hold(keep->mutex);
    held = keep->holds();
    if (held)
      spdlog::debug("released {} (pid {})", keep->request.object.describe(), keep->opener.pid());
    keep->drop();
  }
  if (held) changed(*keep);
  // Also when not held: the recorder forgets the handle before its memory can be reused.
  if (!held && recorder_ != nullptr) recorder_->hold_changed(*keep);
  send(replies);
  hand_over(lock_file);
}

void LockManager::flock(Request req, OpenHandle* handle, int operation, pid_t caller) {
  const bool nonblocking = operation & LOCK_NB;
  operation &= ~LOCK_NB;
  const std::string lock_file = handle->lock_file;  // the handle may go once we answer
  if (operation == LOCK_UN) {
    {
      MutexLock hold(handle->mutex);
      handle->drop();
    }
    changed(*handle);
    req.error(0);
    return hand_over(lock_file);
  }
  if (operation != LOCK_SH && operation != LOCK_EX) return req.error(EINVAL);
  const LockMode mode = operation == LOCK_SH ? LockMode::kShared : LockMode::kExclusive;
  bool released = false;
  bool already = false;
  int failed = 0;
  {
    // Only the conversion itself under the handle's mutex: nothing is answered under it.
    MutexLock hold(handle->mutex);
    if (handle->holds()) {
      if (handle->lock.mode() == mode) {
        already = true;
      } else if (auto converted = handle->convert(mode)) {
        if (mode == LockMode::kShared) released = true;  // shared waiters may join now
      } else {
        // convert() has let go, like flock(2) after a failed conversion.
        released = true;
        if (converted.error().code != EWOULDBLOCK) failed = converted.error().code;
      }
    }
  }
  if (already) return req.error(0);
  if (failed != 0) {
    changed(*handle);
    req.error(failed);
    return poke(lock_file);
  }
  if (released) hand_over(lock_file);
  changed(*handle);  // converted, or let go by a failed conversion
  if (handle->holds()) return req.error(0);
  // Not held: take it like an open does, with this handle's descriptor.
  std::shared_ptr<OpenHandle> registered;
  for (auto& h : handles(lock_file)) {
    if (h.get() == handle) registered = h;
  }
  if (!registered) return req.error(EBADF);
  auto waiter = std::make_unique<Waiter>();
  waiter->req = std::move(req);
  waiter->handle = std::move(registered);
  waiter->mode = mode;
  waiter->is_open = false;
  acquire(std::move(waiter), nonblocking, caller);
}

void LockManager::send(std::vector<Reply>& replies) {
  for (auto& reply : replies) {
    Waiter& w = *reply.waiter;
    const OpenHandle& handle = *w.handle;
    if (recorder_ != nullptr) recorder_->wait_ended(w.wait_event, reply.error);
    switch (reply.error) {
      case 0:
        break;
      case EINTR:
        spdlog::info("wait for {} interrupted (pid {})", handle.request.object.describe(),
                     handle.opener.pid());
        break;
      case ETIMEDOUT:
        spdlog::info(
            "wait for {} by pid {} ended by wait_timeout ({} ms): the lock is still taken, the "
            "open fails with ETIMEDOUT and nothing was locked",
            handle.request.object.describe(), handle.opener.pid(),
            wait_timeout_ ? wait_timeout_->count() : 0);
        break;
      case EBADF:
      case EDEADLK:  // logged by end_self_deadlocks
        break;
      default:
        spdlog::warn("lock {}: {}", handle.request.object.describe(), reply.message);
    }
    if (reply.error != 0) {
      w.req.error(reply.error);
      continue;
    }
    if (reply.lock.held()) {
      MutexLock hold(w.handle->mutex);
      w.handle->take(std::move(reply.lock));
    }
    grant(w);
  }
  replies.clear();
}

void LockManager::run() {
  while (running_) {
    int timeout_ms = -1;
    {
      MutexLock lock(queue_mutex_);
      auto due = queue_->next_due();
      if (!suspects_.empty()) due = std::min(due, suspects_.begin()->first);
      if (!cancelled_.empty() || due == Clock::time_point::min()) {
        timeout_ms = 0;
      } else if (due != Clock::time_point::max()) {
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - Clock::now());
        timeout_ms = static_cast<int>(std::max<long>(0, wait.count()));
      }
    }
    std::vector<int> events_on;
    if (sleep_.wait(timeout_ms)) events_on = watch_->drain();
    std::vector<Reply> replies;
    {
      MutexLock lock(queue_mutex_);
      for (auto& w : cancelled_)
        replies.push_back({std::move(w), EINTR, {}, {}});
      cancelled_.clear();
      queue_->file_events(events_on);
      const auto now = Clock::now();
      collect(queue_->poll(now), replies);
      end_self_deadlocks(now, replies);
    }
    send(replies);
  }
}

std::vector<std::shared_ptr<OpenHandle>> LockManager::handles(const std::string& lock_file) const {
  MutexLock lock(registry_mutex_);
  auto found = handles_.find(lock_file);
  if (found == handles_.end()) return {};
  return found->second;
}

std::shared_ptr<OpenHandle> LockManager::handle_of(std::uint64_t fh) const {
  MutexLock lock(registry_mutex_);
  auto found = by_fh_.find(fh);
  return found == by_fh_.end() ? nullptr : found->second;
}

std::vector<std::shared_ptr<OpenHandle>> LockManager::all_handles() const {
  std::vector<std::shared_ptr<OpenHandle>> out;
  MutexLock lock(registry_mutex_);
  out.reserve(handle_count_);
  for (const auto& [lock_file, list] : handles_)
    out.insert(out.end(), list.begin(), list.end());
  return out;
}

std::vector<LockObject> LockManager::held_in(const std::string& store, const Namespace& ns,
                                             const ObjectFilter& keep) const {
  std::vector<LockObject> out;
  MutexLock lock(registry_mutex_);
  for (const auto& [lock_file, list] : handles_) {
    for (const auto& h : list) {
      const auto& object = h->request.object;
      if (h->holds() && object.store == store && object.ns == ns) {
        if (keep(object)) out.push_back(object);
        break;
      }
    }
  }
  return out;
}

void LockManager::count_waiters(const std::string& lock_file, long delta) {
  MutexLock lock(registry_mutex_);
  auto& count = waiter_counts_[lock_file];
  count += delta;
  waiter_total_ += delta;
  if (count == 0) waiter_counts_.erase(lock_file);
}

std::size_t LockManager::waiter_count(const std::string& lock_file) const {
  MutexLock lock(registry_mutex_);
  auto found = waiter_counts_.find(lock_file);
  return found == waiter_counts_.end() ? 0 : found->second;
}

std::size_t LockManager::total_waiters() const {
  MutexLock lock(registry_mutex_);
  return waiter_total_;
}

void LockManager::freeze() {
  queue_mutex_.lock();  // held until thaw() or execve: the analysis cannot follow it
}

void LockManager::thaw() {
  queue_mutex_.unlock();
}

Result<std::vector<SavedWaiter>> LockManager::saved_waiters() {
  // Frozen: queue_mutex_ is held (by freeze()).
  const std::size_t in_between = g_waiters_alive.load() - waiting_.size();
  if (in_between > 0) {
    return Error{EBUSY, std::to_string(in_between) +
                            " request(s) between the lock queue and their answer: try again"};
  }
  std::set<std::string> keys;
  for (const auto& [id, waiter] : waiting_)
    keys.insert(waiter->handle->lock_file);
  std::vector<SavedWaiter> saved;
  for (const auto& key : keys) {
    for (auto id : queue_->queued(key)) {
      const Waiter& w = *waiting_.at(id);
      SavedWaiter s;
      s.unique = w.req.unique();
      if (s.unique == 0) return Error{EPROTO, "a waiting request without its id"};
      s.is_open = w.is_open;
      s.mode = w.mode;
      s.requester = w.requester;
      if (w.deadline != Clock::time_point::max()) {
        s.deadline_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(w.deadline.time_since_epoch())
                .count();
      }
      s.fi = w.fi;
      s.wait_event = w.wait_event;
      if (w.is_open) {
        s.handle = w.handle;
      } else {
        s.fh = w.handle->fh;
      }
      saved.push_back(std::move(s));
    }
  }
  return saved;
}

void LockManager::resume_waiters(std::vector<SavedWaiter> waiters) {
  for (auto& s : waiters) {
    auto waiter = std::make_unique<Waiter>();
    waiter->req = Request::handed_over(s.unique);
    waiter->fi = s.fi;
    waiter->mode = s.mode;
    waiter->is_open = s.is_open;
    waiter->requester = s.requester;
    waiter->wait_event = s.wait_event;
    waiter->handle = s.is_open ? std::move(s.handle) : handle_of(s.fh);
    if (!waiter->handle) {
      // Its handle was released meanwhile: nobody waits for this answer any more.
      if (recorder_ != nullptr) recorder_->wait_ended(s.wait_event, EBADF);
      waiter->req.error(EBADF);
      continue;
    }
    std::optional<Clock::time_point> deadline;
    if (s.deadline_ns >= 0) deadline = Clock::time_point(std::chrono::nanoseconds(s.deadline_ns));
    const bool suspect = held_by_itself(*waiter->handle, s.requester, s.mode) != nullptr;
    enqueue(std::move(waiter), suspect, deadline);
  }
}

std::uint64_t LockManager::next_fh() const {
  MutexLock lock(registry_mutex_);
  return next_fh_;
}

void LockManager::adopt(std::vector<std::shared_ptr<OpenHandle>> handles, std::uint64_t next_fh) {
  for (auto& handle : handles) {
    if (handle->holds()) {
      // In the history (from when it was taken), and `ls -l` fresh.
      std::chrono::system_clock::time_point since;
      {
        MutexLock hold(handle->mutex);
        since = handle->since;
      }
      if (recorder_ != nullptr) recorder_->hold_changed(*handle, since);
      if (listener_ != nullptr) listener_->changed(handle->request.object);
    }
    MutexLock lock(registry_mutex_);
    by_fh_[handle->fh] = handle;
    handles_[handle->lock_file].push_back(std::move(handle));
    ++handle_count_;
  }
  MutexLock lock(registry_mutex_);
  next_fh_ = std::max(next_fh_, next_fh);
}

std::size_t LockManager::total_handles() const {
  MutexLock lock(registry_mutex_);
  return handle_count_;
}

std::size_t LockManager::pending_timers() const {
  MutexLock lock(queue_mutex_);
  return queue_ ? queue_->timers() : 0;
}

}  // namespace pbs::fs
