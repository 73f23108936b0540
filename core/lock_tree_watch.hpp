// LockTreeWatch: inotify on the directories of PBS's lock tree, one watch per directory (the lock
// root, each store's directory, each namespace directory and each `hashed/`), so that every lock
// file opened, closed, created or removed there is reported by name, whoever did it. Watches grow
// with stores x namespaces, never with lock files; new directories are watched as they appear.
//
// inotify does not say who opened a file (OwnLockOpens tells our own opens apart), and flock(2)
// itself raises no event: an open is followed by a re-read of /proc/locks (LockFileActivity).
// When the system's watch limit (fs.inotify.max_user_watches) is reached, the directories
// beyond it are not watched: limited() says so and the caller logs it once.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "lock_root.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

class LockTreeWatch {
 public:
  struct Event {
    enum class Kind { kOpened, kClosed, kCreated, kRemoved };
    Kind kind = Kind::kOpened;
    std::string directory;  ///< below the lock root: `store1`, `store1/a:b`, `store1/a:b/hashed`
    std::string name;       ///< the file's name in it
  };

  static Result<LockTreeWatch> create(const LockRoot& root);

  /// (Re)watches the lock root and every directory below it, up to the depth of lock files.
  /// Called at start and again after the lock root was replaced or events were lost.
  void watch_tree();
  /// Reads the pending events (never blocks). `overflowed` is set when the kernel dropped some:
  /// then anything may have changed.
  std::vector<Event> read(bool& overflowed);
  /// Readable when events are pending.
  int fd() const { return fd_.get(); }
  std::size_t watches() const { return directories_.size(); }
  /// Whether a directory could not be watched because the inotify watch limit was reached.
  bool limited() const { return limited_; }

 private:
  LockTreeWatch(const LockRoot& root, UniqueFd fd) : root_(&root), fd_(std::move(fd)) {}
  /// Watches `relative` (empty: the lock root) and, below `depth_left`, its subdirectories.
  /// Watches `relative` and the directories below it (`depth_left` levels); with `files`, the
  /// regular files found in them are added to it as created.
  void watch_directory(const std::string& relative, int depth_left,
                       std::vector<Event>* files = nullptr);

  const LockRoot* root_;
  UniqueFd fd_;
  /// Watched directories by watch descriptor: their path below the lock root, and how many
  /// levels below them can still hold lock files.
  struct Watched {
    std::string relative;
    int depth_left = 0;
  };
  std::unordered_map<int, Watched> directories_;
  bool limited_ = false;
};

}  // namespace pbs
