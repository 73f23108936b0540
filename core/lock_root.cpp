// The lock root; see lock_root.hpp.
#include "lock_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_dir.hpp"

namespace pbs {

std::string trim_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  return dir;
}

Result<LockRoot> LockRoot::open(const std::string& path, const Owner& owner,
                                std::string old_locking_marker) {
  std::string root = trim_trailing_slashes(path);
  if (root.empty()) return Error{EINVAL, "empty lock root"};
  if (mkdir(root.c_str(), 0755) == 0) {
    if (chown(root.c_str(), owner.uid, owner.gid) != 0 || chmod(root.c_str(), 0755) != 0) {
      return sys_error("chown", root);
    }
  } else if (errno != EEXIST) {
    return sys_error("mkdir", root);
  }
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open lock root", root);
  return LockRoot(root, UniqueFd(fd), owner, std::move(old_locking_marker));
}

Result<UniqueFd> LockRoot::open_directory(const LockPath& path, bool create) const {
  if (create) return open_or_create_directories(fd_.get(), path.directories(), owner_);
  std::string relative;
  for (const auto& dir : path.directories())
    relative += (relative.empty() ? "" : "/") + dir;
  return open_beneath(fd_.get(), relative, O_RDONLY | O_DIRECTORY);
}

bool LockRoot::old_locking_active() const {
  struct stat st {};
  return !marker_.empty() && stat(marker_.c_str(), &st) == 0;
}

std::string LockRoot::absolute(const LockPath& path) const {
  return (path_ == "/" ? "" : path_) + "/" + path.relative();
}

}  // namespace pbs
