// A single waiter: the lock queue's algorithm with one waiter, in a poll(2) loop on the inotify
// and cancel descriptors. The daemon runs the same LockQueue for all its waiters on one thread.
#include "lock_wait.hpp"

#include <poll.h>

#include <algorithm>

#include "lock_file_watch.hpp"
#include "lock_queue.hpp"

namespace pbs {

Result<Lock> lock_waiting(const LockRoot& root, LockRequest request,
                          std::optional<std::chrono::milliseconds> timeout,
                          const CancelToken* cancel) {
  using Clock = LockQueue::Clock;
  auto watch = LockFileWatch::create();
  if (!watch) return watch.error();
  LockQueue queue(root, &watch.value());
  const std::string key = request.object.lock_path().relative();
  queue.add(1, key, std::move(request),
            timeout ? Clock::now() + *timeout : Clock::time_point::max());
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) return Error{ECANCELED, "lock wait cancelled"};
    auto ended = queue.poll(Clock::now());
    if (!ended.empty()) {
      auto& outcome = ended.front();
      if (outcome.error != 0) return Error{outcome.error, outcome.message};
      return std::move(outcome.lock);
    }
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(queue.next_due() - Clock::now());
    auto pause =
        std::clamp<std::chrono::milliseconds::rep>(wait.count(), 0, LockQueue::kMaxBackoff.count());
    pollfd fds[2] = {{watch->fd(), POLLIN, 0}, {cancel ? cancel->fd() : -1, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(pause)) > 0 && (fds[0].revents & POLLIN))
      queue.file_events(watch->drain());
  }
}

}  // namespace pbs
