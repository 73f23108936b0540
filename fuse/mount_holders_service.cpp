// The daemon's answer to "who holds locks through you"; see mount_holders_service.hpp.
#include "mount_holders_service.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "filesystem.hpp"
#include "mount_holders.hpp"

namespace pbs::fs {
namespace {

// Writes all of `text`; gives up when the peer does not read for a second (SO_SNDTIMEO).
bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Result<void> MountHoldersService::start() {
  listen_fd_ = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_fd_) return sys_error("socket for", "the holders service");
  sockaddr_un address;
  socklen_t length = mount_holders_address(getpid(), address);
  const std::string name = mount_holders_socket_name(getpid());
  if (bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&address), length) != 0)
    return sys_error("bind", "@" + name);
  if (listen(listen_fd_.get(), 64) != 0) return sys_error("listen on", "@" + name);
  stop_fd_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_) return sys_error("eventfd for", "the holders service");
  thread_ = std::thread([this] { run(); });
  return {};
}

void MountHoldersService::stop() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
}

void MountHoldersService::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("holders service: poll failed: {}", error_text(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    UniqueFd connection(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (connection) answer(connection.get());
  }
}

void MountHoldersService::answer(int connection) {
  timeval one_second{1, 0};
  setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &one_second, sizeof one_second);
  ucred peer{};
  socklen_t size = sizeof peer;
  if (getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) return;
  Caller caller = Caller::of_process(peer.pid, peer.uid, peer.gid);
  if (!fs_.access.may_list(caller)) {
    spdlog::warn("holders service: refused {}: not allowed to list locks", caller.describe());
    write_all(connection, "refused not allowed to list locks of this mount\n");
    return;
  }
  std::string text;
  for (const auto& h : fs_.lock_manager->all_handles()) {
    if (!h->holds()) continue;
    MutexLock hold(h->mutex);
    struct stat st {};
    if (!h->lock.held() || fstat(h->lock.file_fd(), &st) != 0) continue;
    text += format_mount_held({st.st_dev, st.st_ino, h->holder_locked()});
    text += '\n';
  }
  text += kMountHoldersEnd;
  text += '\n';
  if (!write_all(connection, text))
    spdlog::debug("holders service: {} did not read its answer", caller.describe());
}

}  // namespace pbs::fs
