// Symlink-proof directory access; see safe_dir.hpp.
#include "safe_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pbs {

// The same walk without openat2 (ENOSYS: a seccomp filter such as systemd's RestrictSUIDSGID=
// makes it fail so, as do kernels before 5.6): one openat per component, none of them followed
// if it is a symlink, and no component that could leave `dirfd` (`..`, absolute paths).
Result<UniqueFd> open_beneath_by_components(int dirfd, const std::string& path, int flags) {
  if (path.front() == '/') return Error{EXDEV, "not beneath: " + path};
  UniqueFd current;
  int at = dirfd;
  std::size_t begin = 0;
  for (;;) {
    std::size_t slash = path.find('/', begin);
    bool last = slash == std::string::npos;
    std::string name = path.substr(begin, last ? std::string::npos : slash - begin);
    if (name == "..") return Error{EXDEV, "not beneath: " + path};
    int fd = last ? openat(at, name.empty() ? "." : name.c_str(), flags | O_CLOEXEC | O_NOFOLLOW)
                  : openat(at, name.empty() ? "." : name.c_str(),
                           O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      // O_NOFOLLOW on a symlink: ELOOP for the last component, ENOTDIR (O_DIRECTORY) before.
      int code = errno;
      struct stat st {};
      if ((code == ENOTDIR || code == ELOOP) &&
          fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        code = ELOOP;
      }
      return sys_error("open", path, code);
    }
    current.reset(fd);
    at = current.get();
    if (last) return current;
    begin = slash + 1;
  }
}

Result<UniqueFd> open_beneath(int dirfd, std::string_view relative, int flags) {
  std::string path = relative.empty() ? std::string(".") : std::string(relative);
  open_how how{};
  how.flags = static_cast<unsigned>(flags | O_CLOEXEC);  // RESOLVE_NO_SYMLINKS covers the last one
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  if (fd < 0 && errno == ENOSYS) return open_beneath_by_components(dirfd, path, flags);
  if (fd < 0) return sys_error("open", path);
  return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> open_or_create_directories(int dirfd, const std::vector<std::string>& dirs,
                                            const Owner& owner) {
  // Nearly always every directory exists already: one openat2 of the whole path.
  std::string whole;
  for (const auto& name : dirs) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      return Error{EINVAL, "invalid directory name '" + name + "'"};
    }
    whole += (whole.empty() ? "" : "/") + name;
  }
  // O_PATH: only ever used as the directory of *at() calls, and an O_PATH open raises no
  // inotify event (the lock tree watcher would otherwise be woken twice per lock taken).
  auto existing = open_beneath(dirfd, whole, O_PATH | O_DIRECTORY);
  if (existing || existing.error().code != ENOENT) {
    if (!existing && existing.error().code == ELOOP) {
      return Error{ELOOP, "refusing symlink in lock tree: " + whole};
    }
    return existing;
  }
  auto current = open_beneath(dirfd, "", O_RDONLY | O_DIRECTORY);
  if (!current) return current.error();
  UniqueFd fd = std::move(current.value());
  for (const auto& name : dirs) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      return Error{EINVAL, "invalid directory name '" + name + "'"};
    }
    bool created = mkdirat(fd.get(), name.c_str(), 0755) == 0;
    if (!created && errno != EEXIST) return sys_error("mkdir", name);
    auto next = open_beneath(fd.get(), name, O_RDONLY | O_DIRECTORY);
    if (!next) {
      if (next.error().code == ELOOP) return Error{ELOOP, "refusing symlink in lock tree: " + name};
      return next.error();
    }
    if (created) {
      // mkdirat applied the umask; PBS's directories are exactly 0755.
      if (fchown(next->get(), owner.uid, owner.gid) != 0) return sys_error("chown", name);
      if (fchmod(next->get(), 0755) != 0) return sys_error("chmod", name);
    }
    fd = std::move(next.value());
  }
  return fd;
}

Result<std::vector<DirEntry>> read_directory(int dirfd) {
  int copy = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (copy < 0) return sys_error("open", "directory");
  DIR* dir = fdopendir(copy);
  if (dir == nullptr) {
    ::close(copy);
    return sys_error("fdopendir", "directory");
  }
  std::vector<DirEntry> out;
  errno = 0;
  while (dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    mode_t type = 0;
    switch (entry->d_type) {
      case DT_DIR:
        type = S_IFDIR;
        break;
      case DT_REG:
        type = S_IFREG;
        break;
      case DT_LNK:
        type = S_IFLNK;
        break;
      case DT_UNKNOWN: {
        struct stat st {};
        if (fstatat(dirfd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
          type = st.st_mode & S_IFMT;
        break;
      }
      default:
        type = S_IFSOCK;  // devices, fifos, sockets: never ours
    }
    out.push_back({std::string(name), type});
    errno = 0;
  }
  int error = errno;
  closedir(dir);
  if (error != 0) return sys_error("readdir", "directory", error);
  return out;
}

}  // namespace pbs
