// Asking a pbs-lockfs daemon who holds locks through it; see mount_holders.hpp.
#include "mount_holders.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "unique_fd.hpp"

namespace pbs {

std::string mount_holders_socket_name(pid_t daemon) {
  return "pbs-lockfs/holders/" + std::to_string(daemon);
}

socklen_t mount_holders_address(pid_t daemon, sockaddr_un& address) {
  address = {};
  address.sun_family = AF_UNIX;
  std::string name = mount_holders_socket_name(daemon);
  std::memcpy(address.sun_path + 1, name.data(), name.size());  // abstract: a leading NUL
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
}

std::string format_mount_held(const MountHeldLock& held) {
  return "dev=" + std::to_string(held.device) + " ino=" + std::to_string(held.inode) + " " +
         describe_holder(held.holder);
}

std::optional<MountHeldLock> parse_mount_held(std::string_view line) {
  auto fields = parse_fields(line);
  if (!fields || fields->size() < 2 || (*fields)[0].first != "dev" || (*fields)[1].first != "ino")
    return std::nullopt;
  auto number = [](const std::string& text) -> std::optional<unsigned long long> {
    char* stop = nullptr;
    unsigned long long value = std::strtoull(text.c_str(), &stop, 10);
    if (text.empty() || *stop != '\0') return std::nullopt;
    return value;
  };
  auto device = number((*fields)[0].second), inode = number((*fields)[1].second);
  auto holder = holder_from_fields(*fields);
  if (!device || !inode || !holder) return std::nullopt;
  return MountHeldLock{static_cast<dev_t>(*device), static_cast<ino_t>(*inode), std::move(*holder)};
}

Result<std::vector<MountHeldLock>> query_mount_holders(pid_t daemon,
                                                       const std::vector<uid_t>& trusted_uids,
                                                       std::chrono::milliseconds timeout) {
  const std::string what = "pbs-lockfs daemon " + std::to_string(daemon);
  UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock) return sys_error("socket for", what);
  sockaddr_un address;
  socklen_t length = mount_holders_address(daemon, address);
  if (connect(sock.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 &&
      errno != EINPROGRESS) {
    return sys_error("connect to", what);
  }
  // Who listens there: only the daemon itself, as a trusted user, is believed.
  ucred peer{};
  socklen_t peer_size = sizeof peer;
  if (getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0)
    return sys_error("credentials of", what);
  if (peer.pid != daemon ||
      std::find(trusted_uids.begin(), trusted_uids.end(), peer.uid) == trusted_uids.end()) {
    return Error{EPERM, what + ": its socket is held by pid " + std::to_string(peer.pid) + " uid " +
                            std::to_string(peer.uid) + ", not by the daemon"};
  }
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error{ETIMEDOUT, what + " did not answer in time"};
    pollfd p{sock.get(), POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return sys_error("waiting for", what);
    if (ready <= 0) continue;
    char buffer[65536];
    ssize_t n = read(sock.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return sys_error("reading from", what);
    }
    if (n == 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  std::vector<MountHeldLock> out;
  std::string_view rest = answer;
  while (!rest.empty()) {
    auto end = rest.find('\n');
    if (end == std::string_view::npos) break;
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    if (line == kMountHoldersEnd) return out;
    if (line.rfind("refused ", 0) == 0)
      return Error{EACCES, what + " refused: " + std::string(line.substr(8))};
    if (auto held = parse_mount_held(line)) out.push_back(std::move(*held));
  }
  return Error{EIO, what + ": its answer was cut short"};
}

const MountHoldersResolver::Answer& MountHoldersResolver::answer_of(pid_t daemon) {
  auto now = std::chrono::steady_clock::now();
  auto found = answers_.find(daemon);
  if (found != answers_.end()) {
    auto keep = found->second.ok ? max_age_ : std::max(max_age_, std::chrono::milliseconds(1000));
    if (now - found->second.at <= keep) return found->second;
  }
  Answer& answer = answers_[daemon];
  answer.at = now;
  auto held = query_mount_holders(daemon, trusted_, timeout_);
  answer.ok = held.ok();
  answer.held = held ? std::move(held.value()) : std::vector<MountHeldLock>{};
  answer.error = held ? std::string() : held.error().message;
  return answer;
}

std::vector<std::string> MountHoldersResolver::failures() {
  std::vector<std::string> out;
  MutexLock lock(mutex_);
  for (const auto& [pid, answer] : answers_) {
    if (!answer.ok) out.push_back(answer.error);
  }
  return out;
}

void MountHoldersResolver::resolve(std::vector<LockHolder>& holders, dev_t device, ino_t inode) {
  // A daemon holds one flock per handle: /proc/locks lists it once for each, and its answer
  // names every handle, so each daemon is replaced once, by all of its holders of this file.
  std::vector<LockHolder> out;
  std::vector<pid_t> replaced;
  MutexLock lock(mutex_);
  for (auto& h : holders) {
    if (std::find(replaced.begin(), replaced.end(), h.pid) != replaced.end()) continue;
    if (h.command != "pbs-lockfs" || h.pid == self_ || h.via_mount) {
      out.push_back(std::move(h));
      continue;
    }
    const Answer& answer = answer_of(h.pid);
    std::vector<LockHolder> requesters;
    for (const auto& held : answer.held) {
      if (held.device == device && held.inode == inode) requesters.push_back(held.holder);
    }
    // No answer, or none for this file (a lock taken a moment ago, an old-style directory
    // lock): the daemon stays shown as itself rather than the lock shown as free.
    if (requesters.empty()) {
      out.push_back(std::move(h));
      continue;
    }
    replaced.push_back(h.pid);
    out.insert(out.end(), requesters.begin(), requesters.end());
  }
  holders = std::move(out);
}

}  // namespace pbs
