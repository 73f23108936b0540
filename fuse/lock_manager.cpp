// The lock manager: inline fast path, per-lock FIFO queues, one waiting thread; see the header.
#include "lock_manager.hpp"

#include "impossible_state.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>

#include <spdlog/spdlog.h>
#include <algorithm>

namespace pbs::fs {

using namespace std::chrono_literals;

struct LockManager::Waiter {
  LockManager* manager = nullptr;  ///< for the interrupt callback
  Request req;
  fuse_file_info fi{};
  std::shared_ptr<OpenHandle> handle;
  LockMode mode = LockMode::kShared;
  bool is_open = true;  ///< an open (reply_open) or a flock (reply_err 0)
  Clock::time_point deadline = Clock::time_point::max();
  // Guarded by mutex_:
  bool queued = false;
  bool claimed = false;  ///< taken off the queue by whoever answers it
  bool cancelled = false;
};

struct LockManager::KeyState {
  std::vector<std::shared_ptr<OpenHandle>> handles;
  std::deque<std::unique_ptr<Waiter>> waiters;
  std::optional<PendingLock> probe;  ///< the lock file, kept open while waiters wait
  unsigned probe_generation = 0;
  int wd = -1;
  std::chrono::milliseconds backoff{1};
  /// The earliest time this key is scheduled for (max: none). One due time per key: every
  /// re-check once pushed another deadline, and the heap grew while opens waited.
  Clock::time_point due = Clock::time_point::max();
};

struct LockManager::Reply {
  std::unique_ptr<Waiter> waiter;
  int error = 0;
  Lock lock;  ///< the granted lock when error == 0
};

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{1};
constexpr std::chrono::milliseconds kMaxBackoff{100};
// How long a process's own conflicting hold may linger before its wait is called a deadlock:
// the RELEASE of a handle it just closed usually arrives within microseconds, rarely in a few
// milliseconds (spec/fuse-notes: p99 45-135 us).
constexpr std::chrono::milliseconds kSelfDeadlockGrace{250};

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
  wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!wake_fd_ || !epoll_fd_) return sys_error("create", "event descriptors");
  for (int fd : {watch_->fd(), wake_fd_.get()}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
      return sys_error("epoll_ctl", "");
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
    std::lock_guard lock(mutex_);
    for (auto& [key, state] : keys_) {
      for (auto& w : state.waiters) {
        w->claimed = true;
        replies.push_back({std::move(w), EINTR, {}});
      }
      state.waiters.clear();
      state.probe.reset();
    }
    for (auto& w : cancelled_)
      replies.push_back({std::move(w), EINTR, {}});
    cancelled_.clear();
    waiters_ = 0;
  }
  send(replies);
}

void LockManager::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_fd_.get(), &one, sizeof one);
}

void LockManager::open(Request req, const fuse_file_info& fi, std::shared_ptr<OpenHandle> handle,
                       bool nonblocking, bool take_lock) {
  const std::string key = handle->key;
  bool queue_busy = false;
  if (take_lock) {
    std::lock_guard lock(mutex_);
    auto found = keys_.find(key);
    queue_busy = found != keys_.end() && !found->second.waiters.empty();
  }
  if (take_lock && !queue_busy) {
    auto taken = try_lock(root_, handle->request);
    if (taken) {
      std::lock_guard hold(handle->mutex);
      handle->take(std::move(taken.value()));
    } else if (taken.error().code != EWOULDBLOCK) {
      spdlog::warn("open {}: {}", handle->request.object.describe(), taken.error().message);
      return req.error(taken.error().code);
    }
  }
  if (!take_lock || handle->holds()) return opened(req, fi, std::move(handle));
  if (nonblocking) return req.error(EWOULDBLOCK);
  LockMode mode = handle->request.mode;
  if (waits_for_itself(key, handle.get(), handle->opener.pid(), mode)) return req.error(EDEADLK);
  enqueue(new_waiter(std::move(req), fi, std::move(handle), mode, true));
}

void LockManager::announce_granted(OpenHandle& handle) const {
  if (!handle.holds()) return;
  if (spdlog::should_log(spdlog::level::debug)) {
    std::lock_guard hold(handle.mutex);
    spdlog::debug("locked {} {} for pid {} ({})", handle.request.object.describe(),
                  to_string(handle.held_mode()), handle.opener.pid(), handle.command_locked());
  }
  changed(handle);
}

void LockManager::opened(Request& req, fuse_file_info fi, std::shared_ptr<OpenHandle> handle) {
  announce_granted(*handle);
  {
    std::lock_guard lock(mutex_);
    keys_[handle->key].handles.push_back(handle);
    ++handles_;
  }
  fi.fh = reinterpret_cast<std::uint64_t>(handle.get());
  // The caller is gone (killed while we answered): no release will ever come.
  if (!req.open(fi)) release(handle.get());
}

std::shared_ptr<OpenHandle> LockManager::held_by_itself(const std::string& key,
                                                        const OpenHandle* own, pid_t waiter,
                                                        LockMode mode) const {
  for (auto& h : handles(key)) {
    if (h.get() == own || !h->holds()) continue;
    if (mode == LockMode::kShared && h->held_mode() == LockMode::kShared) continue;
    if (h->opener.is_same_or_ancestor_of(waiter)) return h;
  }
  return nullptr;
}

bool LockManager::waits_for_itself(const std::string& key, const OpenHandle* own, pid_t waiter,
                                   LockMode mode) const {
  // A close() reaches us as an asynchronous RELEASE a moment later: a process that closes and
  // reopens at once still seems to hold. Only a hold of its own that stays is a deadlock.
  const auto deadline = Clock::now() + kSelfDeadlockGrace;
  std::chrono::microseconds pause{50};
  for (;;) {
    auto culprit = held_by_itself(key, own, waiter, mode);
    if (!culprit) return false;
    if (Clock::now() >= deadline) {
      spdlog::warn(
          "lock {} ({}) refused to pid {}: EDEADLK (held {} through the mount by {} "
          "{}; the wait could never end)",
          culprit->request.object.describe(), to_string(mode), waiter,
          to_string(culprit->held_mode()),
          culprit->opener.pid() == waiter ? "itself, pid" : "its ancestor, pid",
          culprit->opener.pid());
      return true;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

std::unique_ptr<LockManager::Waiter> LockManager::new_waiter(Request req, const fuse_file_info& fi,
                                                             std::shared_ptr<OpenHandle> handle,
                                                             LockMode mode, bool is_open) {
  auto waiter = std::make_unique<Waiter>();
  waiter->manager = this;
  waiter->req = std::move(req);
  waiter->fi = fi;
  waiter->handle = std::move(handle);
  waiter->mode = mode;
  waiter->is_open = is_open;
  if (wait_timeout_) waiter->deadline = Clock::now() + *wait_timeout_;
  return waiter;
}

void LockManager::enqueue(std::unique_ptr<Waiter> waiter) {
  Waiter* raw = waiter.get();
  const std::string key = raw->handle->key;
  // Once queued, the waiter belongs to the manager thread, which may answer and free it at
  // once: nothing below the queueing may touch it (the stress test caught this log line).
  spdlog::debug("waiting for {} ({})", raw->handle->request.object.describe(),
                to_string(raw->mode));
  // Registered before anybody else can see the waiter; may run on_interrupt right away.
  raw->req.on_interrupt(&LockManager::on_interrupt, raw);
  {
    std::lock_guard lock(mutex_);
    if (!raw->cancelled) {
      raw->queued = true;
      if (raw->deadline != Clock::time_point::max()) timers_.push({raw->deadline, key});
      keys_[key].waiters.push_back(std::move(waiter));
      ++waiters_;
      poked_.insert(key);
    }
  }
  if (waiter) return waiter->req.error(EINTR);  // interrupted before it was queued
  wake();
}

void LockManager::on_interrupt(fuse_req_t, void* data) {
  auto* waiter = static_cast<Waiter*>(data);
  waiter->manager->cancel(waiter);
}

void LockManager::cancel(Waiter* waiter) {
  std::lock_guard lock(mutex_);
  waiter->cancelled = true;
  if (!waiter->queued || waiter->claimed) return;
  auto& state = keys_[waiter->handle->key];
  auto it = std::find_if(state.waiters.begin(), state.waiters.end(),
                         [&](const auto& w) { return w.get() == waiter; });
  if (it == state.waiters.end()) return;
  waiter->claimed = true;
  cancelled_.push_back(std::move(*it));
  state.waiters.erase(it);
  --waiters_;
  poked_.insert(waiter->handle->key);  // the next in line may go now
  wake();
}

void LockManager::hand_over(const std::string& key) {
  // A holder through the mount let go: serve the queue here, on the worker that saw it, instead
  // of waking the manager thread for it (one thread hop less on every handoff).
  std::vector<Reply> replies;
  {
    std::lock_guard lock(mutex_);
    auto found = keys_.find(key);
    if (found == keys_.end() || found->second.waiters.empty()) return;
    found->second.backoff = kFirstBackoff;
    process(key, replies);
  }
  send(replies);
}

void LockManager::poke(const std::string& key) {
  {
    std::lock_guard lock(mutex_);
    auto found = keys_.find(key);
    if (found == keys_.end() || found->second.waiters.empty()) return;
    poked_.insert(key);
  }
  wake();
}

void LockManager::release(OpenHandle* handle) {
  std::shared_ptr<OpenHandle> keep;
  std::vector<Reply> replies;
  const std::string key = handle->key;
  {
    std::lock_guard lock(mutex_);
    auto found = keys_.find(key);
    if (found != keys_.end()) {
      auto& state = found->second;
      auto it = std::find_if(state.handles.begin(), state.handles.end(),
                             [&](const auto& h) { return h.get() == handle; });
      if (it != state.handles.end()) {
        keep = std::move(*it);
        state.handles.erase(it);
        --handles_;
      }
      // A flock(2) of this handle still waiting: its descriptor is gone.
      for (auto w = state.waiters.begin(); w != state.waiters.end();) {
        if ((*w)->handle.get() == handle) {
          (*w)->claimed = true;
          replies.push_back({std::move(*w), EBADF, {}});
          w = state.waiters.erase(w);
          --waiters_;
        } else {
          ++w;
        }
      }
    }
  }
  if (!keep) {
    impossible_state("release of an unknown handle for " + key);
    return;
  }
  bool held = false;
  {
    std::lock_guard hold(keep->mutex);
    held = keep->holds();
    if (held)
      spdlog::debug("released {} (pid {})", keep->request.object.describe(), keep->opener.pid());
    keep->drop();
  }
  if (held) changed(*keep);
  send(replies);
  hand_over(key);
  std::lock_guard lock(mutex_);
  forget_if_idle(key);
}

void LockManager::flock(Request req, OpenHandle* handle, int operation, pid_t caller) {
  const bool nonblocking = operation & LOCK_NB;
  operation &= ~LOCK_NB;
  if (operation == LOCK_UN) {
    {
      std::lock_guard hold(handle->mutex);
      handle->drop();
    }
    changed(*handle);
    std::string key = handle->key;  // the handle may be released as soon as we answer
    req.error(0);
    hand_over(key);
    return;
  }
  if (operation != LOCK_SH && operation != LOCK_EX) {
    return req.error(EINVAL);
  }
  const LockMode mode = operation == LOCK_SH ? LockMode::kShared : LockMode::kExclusive;
  bool released = false;
  bool already = false;
  int failed = 0;
  {
    // Only the conversion itself under the handle's mutex: the lock manager's mutex is taken
    // before a handle's (process()), never after, and nothing is answered under it.
    std::lock_guard hold(handle->mutex);
    if (handle->holds()) {
      if (handle->lock.mode() == mode) {
        already = true;
      } else if (auto converted = handle->lock.convert(mode)) {
        handle->held = 1 + static_cast<int>(mode);
        if (mode == LockMode::kShared) released = true;  // shared waiters may join now
      } else {
        handle->drop();  // like flock(2): a failed conversion has let go
        released = true;
        if (converted.error().code != EWOULDBLOCK) failed = converted.error().code;
      }
    }
  }
  if (already) return req.error(0);
  if (failed != 0) {
    std::string key = handle->key;  // the handle may be released as soon as we answer
    changed(*handle);
    req.error(failed);
    poke(key);
    return;
  }
  if (released) hand_over(handle->key);
  changed(*handle);  // converted, or let go by a failed conversion
  if (handle->holds()) {
    return req.error(0);
  }
  // Not held: take it like an open does, with this handle's descriptor.
  std::shared_ptr<OpenHandle> shared;
  bool queue_busy = false;
  {
    std::lock_guard lock(mutex_);
    auto& state = keys_[handle->key];
    for (const auto& h : state.handles) {
      if (h.get() == handle) shared = h;
    }
    queue_busy = !state.waiters.empty();
  }
  if (!shared) {
    return req.error(EBADF);
  }
  if (!queue_busy) {
    LockRequest request = handle->request;
    request.mode = mode;
    auto taken = try_lock(root_, request);
    if (taken) {
      {
        std::lock_guard hold(handle->mutex);
        handle->take(std::move(taken.value()));
      }
      changed(*handle);
      return req.error(0);
    }
    if (taken.error().code != EWOULDBLOCK) {
      return req.error(taken.error().code);
    }
  }
  if (nonblocking) {
    return req.error(EWOULDBLOCK);
  }
  if (waits_for_itself(handle->key, handle, caller, mode)) {
    return req.error(EDEADLK);
  }
  enqueue(new_waiter(std::move(req), {}, std::move(shared), mode, false));
}

void LockManager::send(std::vector<Reply>& replies) {
  for (auto& reply : replies) {
    Waiter& w = *reply.waiter;
    if (reply.error != 0) {
      w.req.error(reply.error);
      continue;
    }
    if (reply.lock.held()) {
      std::lock_guard hold(w.handle->mutex);
      w.handle->take(std::move(reply.lock));
    }
    if (w.is_open) {
      opened(w.req, w.fi, std::move(w.handle));
      continue;
    }
    announce_granted(*w.handle);
    w.req.error(0);  // a flock(2) answers success that way
  }
  replies.clear();
}

void LockManager::schedule(const std::string& key, Clock::time_point when) {
  auto found = keys_.find(key);
  if (found == keys_.end()) return;
  Clock::time_point& due = found->second.due;
  if (due <= when && due > Clock::now()) return;  // an earlier check is already scheduled
  due = when;
  timers_.push({when, key});
}

std::size_t LockManager::pending_timers() const {
  std::lock_guard lock(mutex_);
  return timers_.size();
}

void LockManager::forget_if_idle(const std::string& key) {
  auto found = keys_.find(key);
  if (found == keys_.end()) return;
  auto& state = found->second;
  if (!state.handles.empty() || !state.waiters.empty()) return;
  if (state.wd >= 0) {
    watch_->unwatch(state.wd);
    watched_.erase(state.wd);
  }
  keys_.erase(found);
}

void LockManager::process(const std::string& key, std::vector<Reply>& replies) {
  auto found = keys_.find(key);
  if (found == keys_.end()) return;
  KeyState& state = found->second;
  const auto now = Clock::now();
  auto claim_front = [&](int error, Lock lock) {
    state.waiters.front()->claimed = true;
    replies.push_back({std::move(state.waiters.front()), error, std::move(lock)});
    state.waiters.pop_front();
    --waiters_;
  };
  // Every waiter has the same timeout, so the expired ones are at the front.
  while (!state.waiters.empty() && state.waiters.front()->deadline <= now) {
    spdlog::info(
        "wait for {} by pid {} ended by wait_timeout ({} ms): the lock is still taken, the open "
        "fails with ETIMEDOUT and nothing was locked",
        state.waiters.front()->handle->request.object.describe(),
        state.waiters.front()->handle->opener.pid(), wait_timeout_ ? wait_timeout_->count() : 0);
    claim_front(ETIMEDOUT, {});
  }
  while (!state.waiters.empty()) {
    Waiter& head = *state.waiters.front();
    // A flock(2) of a handle that another thread's flock on the same descriptor got meanwhile:
    // as with flock(2) on one open file description, the same mode is granted at once; another
    // mode is a conversion, which lets go first and then waits like any other.
    if (!head.is_open && head.handle->holds()) {
      if (head.handle->held_mode() == head.mode) {
        claim_front(0, {});
        continue;
      }
      std::lock_guard hold(head.handle->mutex);
      head.handle->drop();
    }
    if (!state.probe) {
      auto probe = PendingLock::open(root_, head.handle->request);
      if (!probe) {
        spdlog::warn("lock {}: {}", head.handle->request.object.describe(), probe.error().message);
        claim_front(probe.error().code, {});
        continue;
      }
      state.probe.emplace(std::move(probe.value()));
    }
    state.probe->set_mode(head.mode);
    auto taken = state.probe->try_take();
    if (taken) {
      state.probe.reset();  // spent: its descriptor is the granted lock now
      claim_front(0, std::move(taken.value()));
      continue;  // consecutive shared waiters are granted together
    }
    if (taken.error().code != EWOULDBLOCK) {
      spdlog::warn("lock {}: {}", head.handle->request.object.describe(), taken.error().message);
      state.probe.reset();
      claim_front(taken.error().code, {});
      continue;
    }
    if (state.probe->generation() != state.probe_generation) {
      if (state.wd >= 0) watched_.erase(state.wd);
      auto wd = watch_->watch(state.probe->file_fd());
      state.wd = wd ? *wd : -1;
      if (wd) watched_[*wd] = key;
      state.probe_generation = state.probe->generation();
    }
    schedule(key, now + state.backoff);
    state.backoff = std::min(state.backoff * 2, kMaxBackoff);
    break;
  }
  if (state.waiters.empty()) {
    state.probe.reset();
  } else if (state.waiters.front()->deadline != Clock::time_point::max()) {
    schedule(key, state.waiters.front()->deadline);
  }
  forget_if_idle(key);
}

void LockManager::run() {
  while (running_) {
    int timeout_ms = -1;
    {
      std::lock_guard lock(mutex_);
      if (!timers_.empty()) {
        auto wait =
            std::chrono::ceil<std::chrono::milliseconds>(timers_.top().first - Clock::now());
        timeout_ms = static_cast<int>(std::max<long>(0, wait.count()));
      }
      if (!poked_.empty() || !cancelled_.empty()) timeout_ms = 0;
    }
    epoll_event events[2];
    int n = epoll_wait(epoll_fd_.get(), events, 2, timeout_ms);
    std::vector<int> wds;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == watch_->fd()) {
        wds = watch_->drain();
      } else {
        std::uint64_t count;
        [[maybe_unused]] auto r = read(wake_fd_.get(), &count, sizeof count);
      }
    }
    std::vector<Reply> replies;
    {
      std::lock_guard lock(mutex_);
      std::set<std::string> todo = std::move(poked_);
      poked_.clear();
      for (int wd : wds) {
        auto found = watched_.find(wd);
        if (found != watched_.end()) todo.insert(found->second);
      }
      for (const auto& key : todo) {
        auto state = keys_.find(key);
        if (state != keys_.end()) state->second.backoff = kFirstBackoff;
      }
      const auto now = Clock::now();
      while (!timers_.empty() && timers_.top().first <= now) {
        const std::string& key = timers_.top().second;
        if (auto state = keys_.find(key); state != keys_.end() && state->second.due <= now)
          state->second.due = Clock::time_point::max();
        todo.insert(key);
        timers_.pop();
      }
      for (auto& w : cancelled_)
        replies.push_back({std::move(w), EINTR, {}});
      cancelled_.clear();
      for (const auto& key : todo)
        process(key, replies);
    }
    for (auto& reply : replies) {
      if (reply.error == EINTR) {
        spdlog::info("wait for {} interrupted (pid {})",
                     reply.waiter->handle->request.object.describe(),
                     reply.waiter->handle->opener.pid());
      }
    }
    send(replies);
  }
}

std::vector<std::shared_ptr<OpenHandle>> LockManager::handles(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto found = keys_.find(key);
  if (found == keys_.end()) return {};
  return found->second.handles;
}

std::vector<std::shared_ptr<OpenHandle>> LockManager::all_handles() const {
  std::vector<std::shared_ptr<OpenHandle>> out;
  std::lock_guard lock(mutex_);
  out.reserve(handles_);
  for (const auto& [key, state] : keys_)
    out.insert(out.end(), state.handles.begin(), state.handles.end());
  return out;
}

std::vector<LockObject> LockManager::held_in(const std::string& store, const Namespace& ns) const {
  std::vector<LockObject> out;
  std::lock_guard lock(mutex_);
  for (const auto& [key, state] : keys_) {
    for (const auto& h : state.handles) {
      const auto& object = h->request.object;
      if (h->holds() && object.store == store && object.ns == ns) {
        out.push_back(object);
        break;
      }
    }
  }
  return out;
}

std::size_t LockManager::waiter_count(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto found = keys_.find(key);
  return found == keys_.end() ? 0 : found->second.waiters.size();
}

std::size_t LockManager::total_waiters() const {
  std::lock_guard lock(mutex_);
  return waiters_;
}

std::size_t LockManager::total_handles() const {
  std::lock_guard lock(mutex_);
  return handles_;
}

}  // namespace pbs::fs
