// The connection's custom IO; see connection_io.hpp.
#include "connection_io.hpp"

#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mutex.hpp"

namespace pbs::fs {
namespace {

struct InitExchange {
  Mutex mutex;
  std::string request PBS_GUARDED_BY(mutex);
  std::string reply PBS_GUARDED_BY(mutex);
  std::uint64_t unique PBS_GUARDED_BY(mutex) = 0;
  bool replaying PBS_GUARDED_BY(mutex) = false;
  /// Until the answer to INIT is kept: every write is looked at (one load after that).
  std::atomic<bool> watching{false};
};

InitExchange& exchange() {
  static InitExchange state;
  return state;
}

/// The connection's descriptor (for direct answers) and the interrupt callbacks of requests
/// answered directly.
struct DirectRequests {
  Mutex mutex;
  std::unordered_map<std::uint64_t, std::pair<fuse_interrupt_func_t, void*>> interruptible
      PBS_GUARDED_BY(mutex);
};

DirectRequests& direct() {
  static DirectRequests state;
  return state;
}

std::atomic<int> g_connection{-1};
thread_local std::uint64_t t_current_unique = 0;
thread_local std::uint64_t t_poll_kh = 0;

std::string joined(const iovec* iov, int count) {
  std::string message;
  for (int i = 0; i < count; ++i)
    message.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return message;
}

// An answer to the INIT being watched: kept; during a replay, not sent. `sent`: its length.
bool kept_init_answer(const iovec* iov, int count, ssize_t& sent) {
  if (count < 1 || iov[0].iov_len < sizeof(fuse_out_header)) return false;
  fuse_out_header header{};
  std::memcpy(&header, iov[0].iov_base, sizeof header);
  auto& state = exchange();
  MutexLock lock(state.mutex);
  if (header.unique != state.unique || state.unique == 0) return false;
  state.reply = joined(iov, count);
  state.watching = false;
  sent = static_cast<ssize_t>(state.reply.size());
  return state.replaying;
}

ssize_t write_message(int fd, iovec* iov, int count, void*) {
  ssize_t sent = 0;
  if (exchange().watching.load(std::memory_order_acquire) && kept_init_answer(iov, count, sent))
    return sent;
  return writev(fd, iov, count);
}

ssize_t read_message(int fd, void* buf, size_t size, void*) {
  return read(fd, buf, size);
}

}  // namespace

Result<void> ConnectionIo::install(fuse_session* se, int fd) {
  // Member by member: libfuse 3.17 has more members than 3.14 (clone_fd), left empty.
  static const fuse_custom_io io = [] {
    fuse_custom_io hooks{};
    hooks.writev = write_message;
    hooks.read = read_message;
    return hooks;
  }();
  if (int error = fuse_session_custom_io(se, &io, fd); error != 0) {
    return Error{-error, "cannot set the connection's IO hooks"};
  }
  g_connection = fd;
  return {};
}

bool ConnectionIo::request_read(const fuse_buf& buf) {
  t_current_unique = 0;
  t_poll_kh = 0;
  if ((buf.flags & FUSE_BUF_IS_FD) != 0 || buf.size < sizeof(fuse_in_header)) return false;
  fuse_in_header header{};
  std::memcpy(&header, buf.mem, sizeof header);
  t_current_unique = header.unique;
  if (header.opcode == FUSE_POLL && buf.size >= sizeof header + sizeof(fuse_poll_in)) {
    fuse_poll_in poll{};
    std::memcpy(&poll, static_cast<const char*>(buf.mem) + sizeof header, sizeof poll);
    if ((poll.flags & FUSE_POLL_SCHEDULE_NOTIFY) != 0) t_poll_kh = poll.kh;
    return false;
  }
  if (header.opcode == FUSE_INTERRUPT && buf.size >= sizeof header + sizeof(fuse_interrupt_in)) {
    fuse_interrupt_in target{};
    std::memcpy(&target, static_cast<const char*>(buf.mem) + sizeof header, sizeof target);
    auto& requests = direct();
    MutexLock lock(requests.mutex);
    auto found = requests.interruptible.find(target.unique);
    if (found == requests.interruptible.end()) return false;  // libfuse's own request
    found->second.first(nullptr, found->second.second);       // an interrupt takes no answer
    return true;
  }
  if (header.opcode != FUSE_INIT) return false;
  auto& state = exchange();
  MutexLock lock(state.mutex);
  state.request.assign(static_cast<const char*>(buf.mem), buf.size);
  state.unique = header.unique;
  state.watching = true;
  return false;
}

std::uint64_t ConnectionIo::current_unique() {
  return t_current_unique;
}

std::uint64_t ConnectionIo::current_poll_kh() {
  return t_poll_kh;
}

void ConnectionIo::notify_poll(std::uint64_t kh) {
  fuse_notify_poll_wakeup_out wakeup{};
  wakeup.kh = kh;
  fuse_out_header header{};
  header.unique = 0;  // a notification
  header.error = FUSE_NOTIFY_POLL;
  header.len = sizeof header + sizeof wakeup;
  iovec parts[2] = {{&header, sizeof header}, {&wakeup, sizeof wakeup}};
  while (writev(g_connection.load(), parts, 2) < 0 && errno == EINTR) {
  }
}

bool ConnectionIo::reply(std::uint64_t unique, int error, const void* body, std::size_t size) {
  fuse_out_header header{};
  header.unique = unique;
  header.error = -error;
  header.len = static_cast<std::uint32_t>(sizeof header + (error == 0 ? size : 0));
  iovec parts[2] = {{&header, sizeof header}, {const_cast<void*>(body), size}};
  const int count = error == 0 && size > 0 ? 2 : 1;
  ssize_t written;
  do {
    written = writev(g_connection.load(), parts, count);
  } while (written < 0 && errno == EINTR);
  return written == static_cast<ssize_t>(header.len);  // ENOENT: nobody waits for it any more
}

void ConnectionIo::on_interrupt(std::uint64_t unique, fuse_interrupt_func_t callback, void* data) {
  auto& requests = direct();
  MutexLock lock(requests.mutex);
  requests.interruptible[unique] = {callback, data};
}

void ConnectionIo::forget_interrupt(std::uint64_t unique) {
  auto& requests = direct();
  MutexLock lock(requests.mutex);
  requests.interruptible.erase(unique);
}

std::string ConnectionIo::init_request() {
  MutexLock lock(exchange().mutex);
  return exchange().request;
}

std::string ConnectionIo::init_reply() {
  MutexLock lock(exchange().mutex);
  return exchange().reply;
}

Result<std::string> ConnectionIo::replay_init(fuse_session* se, const std::string& request) {
  fuse_in_header header{};
  if (request.size() < sizeof header) return Error{EINVAL, "the saved FUSE_INIT is too short"};
  std::memcpy(&header, request.data(), sizeof header);
  if (header.opcode != FUSE_INIT || header.len != request.size())
    return Error{EINVAL, "the saved request is not a FUSE_INIT"};
  auto& state = exchange();
  {
    MutexLock lock(state.mutex);
    state.request = request;
    state.reply.clear();
    state.unique = header.unique;
    state.replaying = true;
    state.watching = true;
  }
  // libfuse reads requests from a buffer it owns; the same bytes, in memory of ours.
  std::vector<char> bytes(request.begin(), request.end());
  fuse_buf buf{};
  buf.size = bytes.size();
  buf.mem = bytes.data();
  fuse_session_process_buf(se, &buf);
  MutexLock lock(state.mutex);
  state.replaying = false;
  state.watching = false;
  if (state.reply.empty()) return Error{EPROTO, "libfuse gave no answer to the saved FUSE_INIT"};
  return state.reply;
}

}  // namespace pbs::fs
