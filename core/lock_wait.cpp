// A single waiter's loop; see lock_wait.hpp. The daemon runs many waiters in one event loop
// with the same parts (PendingLock, LockFileWatch).
#include "lock_wait.hpp"

#include <poll.h>

#include <algorithm>

#include "lock_file_watch.hpp"

namespace pbs {

Result<Lock> lock_waiting(const LockRoot& root, LockRequest request,
                          std::optional<std::chrono::milliseconds> timeout,
                          const CancelToken* cancel) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  auto watch = LockFileWatch::create();
  if (!watch) return watch.error();
  auto pending = PendingLock::open(root, std::move(request));
  if (!pending) return pending.error();

  std::chrono::milliseconds backoff{1};
  unsigned watched_generation = 0;
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) return Error{ECANCELED, "lock wait cancelled"};
    auto lock = pending->try_take();
    if (lock || lock.error().code != EWOULDBLOCK) return lock;
    if (pending->generation() != watched_generation) {
      // A new file (first time, or the old one was replaced): watch it instead.
      if (auto wd = watch->watch(pending->file_fd()); !wd) return wd.error();
      watched_generation = pending->generation();
    }
    auto now = Clock::now();
    if (now >= deadline) return Error{ETIMEDOUT, "timed out waiting for lock"};
    auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    auto pause = std::min(backoff, remaining);
    pollfd fds[2] = {{watch->fd(), POLLIN, 0}, {cancel ? cancel->fd() : -1, POLLIN, 0}};
    int ready = poll(fds, 2, static_cast<int>(pause.count()));
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      watch->drain();
      // The kernel reports a close just before it drops the flock: retry now and soon after.
      backoff = std::chrono::milliseconds{1};
    } else {
      backoff = std::min(backoff * 2, kMaxRecheckInterval);
    }
  }
}

}  // namespace pbs
