// The lock root; see lock_root.hpp.
#include "lock_root.hpp"

#include <fcntl.h>
#include <sys/fsuid.h>
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

namespace {

constexpr std::size_t kMaxCachedDirectories = 1024;

// Runs `action` with the filesystem identity of `owner` (setfsuid/setfsgid, this thread only):
// root without CAP_DAC_OVERRIDE and CAP_FOWNER (the hardened unit) may not create in, or chmod,
// a directory of backup's such as PBS's /run/proxmox-backup; backup may.
template <typename Action>
auto as_owner(const Owner& owner, Action action) {
  uid_t old_uid = static_cast<uid_t>(setfsuid(owner.uid));
  gid_t old_gid = static_cast<gid_t>(setfsgid(owner.gid));
  auto result = action();
  int saved = errno;
  setfsgid(old_gid);
  setfsuid(old_uid);
  errno = saved;
  return result;
}

// Opens the lock root directory at `root` (absolute, no trailing slash), creating what is missing
// like `mkdir -p` does (0755, owned by `owner`), as PBS creates /run/proxmox-backup: existing
// parents are used as they are (an admin's /var/run -> /run is fine), but the lock root itself
// must be a real directory, never a symlink.
Result<UniqueFd> open_root_directory(const std::string& root, const Owner& owner) {
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
    bool created = mkdirat(dir.get(), name.c_str(), 0755) == 0;
    bool created_as_owner = false;
    if (!created && errno == EACCES && geteuid() == 0 && owner.uid != 0) {
      created = created_as_owner =
          as_owner(owner, [&] { return mkdirat(dir.get(), name.c_str(), 0755); }) == 0;
    }
    if (!created && errno != EEXIST) return sys_error("mkdir", walked);
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (last ? O_NOFOLLOW : 0);
    // What backup created is backup's (mode from the umask, maybe 0700) until the chmod below.
    int fd = created_as_owner
                 ? as_owner(owner, [&] { return ::openat(dir.get(), name.c_str(), flags); })
                 : ::openat(dir.get(), name.c_str(), flags);
    if (fd < 0 && last && errno == ENOTDIR) {
      struct stat st {};
      if (fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        return Error{ELOOP, "lock root " + walked + " is a symlink; refusing to follow it"};
      }
    }
    if (fd < 0) return sys_error(last ? "open lock root" : "open", walked);
    dir = UniqueFd(fd);
    if (created) {
      // mkdirat applied the umask: give what we created the mode PBS gives its directories,
      // then hand it to `owner`, both through the descriptor (a symlink swapped in meanwhile
      // is never followed), each while we own it: no CAP_FOWNER needed.
      bool ok = created_as_owner ? as_owner(owner, [&] { return fchmod(dir.get(), 0755); }) == 0
                                 : fchmod(dir.get(), 0755) == 0;
      if (!ok) return sys_error("chmod", walked);
      if (!created_as_owner && fchown(dir.get(), owner.uid, owner.gid) != 0)
        return sys_error("chown", walked);
      spdlog::info("created {} (0755, uid {} gid {})", walked, owner.uid, owner.gid);
    }
  }
  return dir;
}

}  // namespace

Result<LockRoot> LockRoot::open(const std::string& path, const Owner& owner,
                                std::string old_locking_marker) {
  std::string root = trim_trailing_slashes(path);
  if (root.empty() || root.front() != '/') return Error{EINVAL, "lock root must be absolute"};
  auto dir = open_root_directory(root, owner);
  if (!dir) return dir.error();
  struct stat st {};
  if (fstat(dir->get(), &st) != 0) return sys_error("stat", root);
  LockRoot opened(root, owner, std::move(old_locking_marker));
  opened.current_->fd = dir->get();
  opened.current_->device = st.st_dev;
  opened.current_->inode = st.st_ino;
  {
    MutexLock lock(opened.current_->mutex);  // nobody else has it yet; for the analysis
    opened.current_->owned.push_back(std::move(dir.value()));
  }
  return opened;
}

bool LockRoot::refresh(std::chrono::milliseconds at_most_every) const {
  Current& c = *current_;
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (at_most_every.count() > 0 &&
      now - c.checked.load() <
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(at_most_every).count()) {
    return false;
  }
  MutexLock lock(c.mutex);
  c.checked = now;
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == c.device.load() &&
      st.st_ino == c.inode.load()) {
    return false;
  }
  auto dir = open_root_directory(path_, owner_);
  if (!dir || fstat(dir->get(), &st) != 0) {
    if (c.missing_reported) return false;  // said once until it is back
    c.missing_reported = true;
    spdlog::error(
        "lock root {} was removed or replaced, and cannot be opened again ({}): every "
        "lock attempt fails until it can",
        path_, dir ? std::string("stat failed") : dir.error().message);
    return false;
  }
  c.missing_reported = false;
  if (st.st_dev == c.device.load() && st.st_ino == c.inode.load()) return false;
  c.device = st.st_dev;
  c.inode = st.st_ino;
  c.fd = dir->get();
  forget_directories();
  c.owned.push_back(std::move(dir.value()));
  ++c.replacements;
  spdlog::warn(
      "lock root {} was replaced or removed: locking where PBS locks, in the directory "
      "now at that path; locks held in the old one stay held until released",
      path_);
  return true;
}

Result<UniqueFd> LockRoot::open_directory(const LockPath& path, bool create) const {
  if (create) return open_or_create_directories(fd(), path.directories(), owner_);
  return open_beneath(fd(), path.directory(), O_PATH | O_DIRECTORY);  // for *at() calls only
}

Result<std::shared_ptr<const UniqueFd>> LockRoot::cached_directory(const LockPath& path,
                                                                   bool create) const {
  std::string key = path.directory();
  Current& c = *current_;
  {
    MutexLock lock(c.directories_mutex);
    if (auto found = c.directories.find(key); found != c.directories.end()) return found->second;
  }
  auto dir = open_directory(path, create);
  if (!dir) return dir.error();
  auto shared = std::make_shared<const UniqueFd>(std::move(dir.value()));
  MutexLock lock(c.directories_mutex);
  // Stores and namespaces are few; a host with more directories than this starts over.
  if (c.directories.size() >= kMaxCachedDirectories) c.directories.clear();
  c.directories.emplace(std::move(key), shared);
  return shared;
}

void LockRoot::forget_directories() const {
  MutexLock lock(current_->directories_mutex);
  current_->directories.clear();
}

bool LockRoot::old_locking_active() const {
  struct stat st {};
  return !marker_.empty() && stat(marker_.c_str(), &st) == 0;
}

std::string LockRoot::absolute(const LockPath& path) const {
  return (path_ == "/" ? "" : path_) + "/" + path.relative();
}

}  // namespace pbs
