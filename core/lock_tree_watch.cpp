// inotify on the lock tree's directories; see lock_tree_watch.hpp.
#include "lock_tree_watch.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "safe_dir.hpp"

namespace pbs {
namespace {

// `<store>/[<ns a:b>/][hashed/]<file>`: below the root, lock files are at most three levels deep.
constexpr int kTreeDepth = 3;

constexpr std::uint32_t kDirectoryMask = IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_CREATE |
                                         IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR |
                                         IN_EXCL_UNLINK;

std::string child_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

}  // namespace

Result<LockTreeWatch> LockTreeWatch::create(const LockRoot& root) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return sys_error("inotify_init1", "");
  return LockTreeWatch(root, UniqueFd(fd));
}

void LockTreeWatch::watch_tree() {
  for (const auto& [wd, dir] : directories_)
    inotify_rm_watch(fd_.get(), wd);
  directories_.clear();
  watch_directory("", kTreeDepth);
}

void LockTreeWatch::watch_directory(const std::string& relative, int depth_left,
                                    std::vector<Event>* files) {
  // Through a descriptor opened without following symlinks: a symlink planted in the lock tree
  // is never watched (nor anything it points to).
  auto dir = relative.empty() ? Result<UniqueFd>(UniqueFd(dup(root_->fd())))
                              : open_beneath(root_->fd(), relative, O_RDONLY | O_DIRECTORY);
  if (!dir || !dir->valid()) return;
  const std::string proc_path = "/proc/self/fd/" + std::to_string(dir->get());
  int wd = inotify_add_watch(fd_.get(), proc_path.c_str(), kDirectoryMask);
  if (wd < 0) {
    if (errno == ENOSPC && !limited_) {
      limited_ = true;
      spdlog::warn(
          "inotify watch limit reached (fs.inotify.max_user_watches): lock directory '{}' and "
          "others are not watched; for them a lock taken or released by another process shows "
          "after attr_timeout, as without the watcher",
          relative.empty() ? "." : relative);
    }
    return;
  }
  directories_[wd] = {relative, depth_left};
  if (depth_left == 0 && files == nullptr) return;
  auto entries = read_directory(dir->get());
  if (!entries) return;
  for (const auto& entry : *entries) {
    if (entry.type == S_IFDIR && depth_left > 0) {
      watch_directory(child_path(relative, entry.name), depth_left - 1, files);
    } else if (entry.type == S_IFREG && files != nullptr) {
      files->push_back({Event::Kind::kCreated, relative, entry.name});
    }
  }
}

std::vector<LockTreeWatch::Event> LockTreeWatch::read(bool& overflowed) {
  std::vector<Event> out;
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    for (char* p = buffer; p < buffer + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & IN_Q_OVERFLOW) {
        overflowed = true;
        continue;
      }
      auto found = directories_.find(event->wd);
      if (found == directories_.end()) continue;
      if (event->mask & IN_IGNORED) {  // the directory is gone
        directories_.erase(found);
        continue;
      }
      if (event->len == 0) continue;  // the directory itself was opened or closed
      std::string name(event->name);
      if (event->mask & IN_ISDIR) {
        // A new store, namespace or hashed/ directory: watched from now on, and the lock files
        // already in it reported as created (PBS makes the directory, then opens and locks its
        // file at once: the open may come before the watch, and a flock raises no event).
        if ((event->mask & (IN_CREATE | IN_MOVED_TO)) && found->second.depth_left > 0) {
          const Watched parent = found->second;
          watch_directory(child_path(parent.relative, name), parent.depth_left - 1, &out);
        }
        continue;
      }
      Event e;
      if (event->mask & IN_OPEN) {
        e.kind = Event::Kind::kOpened;
      } else if (event->mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) {
        e.kind = Event::Kind::kClosed;
      } else if (event->mask & (IN_CREATE | IN_MOVED_TO)) {
        e.kind = Event::Kind::kCreated;
      } else {
        e.kind = Event::Kind::kRemoved;
      }
      e.directory = found->second.relative;
      e.name = std::move(name);
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace pbs
