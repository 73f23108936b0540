// One epoll set of a watched descriptor and a wake-up eventfd; see wakeable_wait.hpp.
#include "wakeable_wait.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace pbs::fs {

Result<void> WakeableWait::open(int watched_fd) {
  watched_ = watched_fd;
  wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!wake_fd_ || !epoll_fd_) return sys_error("create", "event descriptors");
  for (int fd : {watched_, wake_fd_.get()}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
      return sys_error("epoll_ctl", "");
  }
  return {};
}

bool WakeableWait::wait(int timeout_ms) {
  epoll_event events[2];
  int n = epoll_wait(epoll_fd_.get(), events, 2, timeout_ms);
  bool readable = false;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.fd == watched_) {
      readable = true;
    } else {
      std::uint64_t count;
      [[maybe_unused]] auto r = read(wake_fd_.get(), &count, sizeof count);
    }
  }
  return readable;
}

void WakeableWait::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_fd_.get(), &one, sizeof one);
}

}  // namespace pbs::fs
