// inotify watches on lock files; see lock_file_watch.hpp.
#include "lock_file_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <string>

namespace pbs {

Result<LockFileWatch> LockFileWatch::create() {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return sys_error("inotify_init1", "");
  return LockFileWatch(UniqueFd(fd));
}

Result<int> LockFileWatch::watch(int fd) {
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  int wd = inotify_add_watch(
      fd_.get(), path.c_str(),
      IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
  if (wd < 0) return sys_error("inotify_add_watch", path);
  return wd;
}

void LockFileWatch::unwatch(int wd) {
  inotify_rm_watch(fd_.get(), wd);
}

std::vector<int> LockFileWatch::drain() {
  std::vector<int> out;
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    ssize_t n = read(fd_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    for (char* p = buffer; p < buffer + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      out.push_back(event->wd);
      p += sizeof(inotify_event) + event->len;
    }
  }
  return out;
}

}  // namespace pbs
