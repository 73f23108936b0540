// The lock root; see lock_root.hpp.
#include "lock_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

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
  if (root.empty() || root.front() != '/') return Error{EINVAL, "lock root must be absolute"};
  // Like `mkdir -p`, as PBS creates /run/proxmox-backup: existing parents are used as they are
  // (an admin's /var/run -> /run is fine); what is missing is created 0755 and owned by `owner`.
  // The lock root itself must be a real directory, never a symlink.
  UniqueFd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  std::string walked;
  std::size_t begin = 1;
  while (begin < root.size()) {
    std::size_t end = root.find('/', begin);
    if (end == std::string::npos) end = root.size();
    std::string name = root.substr(begin, end - begin);
    walked += "/" + name;
    begin = end + 1;
    if (name.empty() || name == ".") continue;
    bool last = begin >= root.size();
    if (mkdirat(dir.get(), name.c_str(), 0755) == 0) {
      if (fchownat(dir.get(), name.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
          fchmodat(dir.get(), name.c_str(), 0755, 0) != 0) {
        return sys_error("chown", walked);
      }
      spdlog::info("created {} (0755, uid {} gid {})", walked, owner.uid, owner.gid);
    } else if (errno != EEXIST) {
      return sys_error("mkdir", walked);
    }
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (last ? O_NOFOLLOW : 0);
    int fd = ::openat(dir.get(), name.c_str(), flags);
    if (fd < 0 && last && errno == ENOTDIR) {
      struct stat st {};
      if (fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        return Error{ELOOP, "lock root " + walked + " is a symlink; refusing to follow it"};
      }
    }
    if (fd < 0) return sys_error(last ? "open lock root" : "open", walked);
    dir = UniqueFd(fd);
  }
  struct stat st {};
  if (fstat(dir.get(), &st) != 0) return sys_error("stat", root);
  return LockRoot(root, std::move(dir), owner, std::move(old_locking_marker), st.st_dev);
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
