// Lock-file open/create and double-stat; see lock_file.hpp.
#include "lock_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string_view>

namespace pbs {
namespace {

// Escaped lock names never start with '.', so this prefix cannot collide with a lock file.
constexpr const char kTemporaryPrefix[] = ".tmp_";
constexpr int kOpenFlags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

std::string temporary_name() {
  unsigned char bytes[8] = {};
  if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
    auto now = static_cast<unsigned long>(time(nullptr)) ^ static_cast<unsigned long>(getpid());
    for (auto& b : bytes)
      b = static_cast<unsigned char>(now >>= 3);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = kTemporaryPrefix;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

Result<UniqueFd> open_existing(int dirfd, const std::string& name, struct stat& st) {
  int fd = openat(dirfd, name.c_str(), kOpenFlags);
  if (fd < 0) {
    if (errno == ELOOP) return Error{ELOOP, "refusing symlink in lock tree: " + name};
    return sys_error("open lock file", name);
  }
  UniqueFd file(fd);
  if (fstat(fd, &st) != 0) return sys_error("stat lock file", name);
  if (!S_ISREG(st.st_mode)) return Error{EINVAL, "lock file is not a regular file: " + name};
  return file;
}

// Creates the file beside `name` and renames it into place. Returns the open file, or EEXIST
// when another process won the race.
Result<UniqueFd> create_beside(int dirfd, const std::string& name, const Owner& owner) {
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    tmp = temporary_name();
    fd = openat(dirfd, tmp.c_str(), kOpenFlags | O_CREAT | O_EXCL, 0660);
    if (fd < 0 && errno != EEXIST) return sys_error("create lock file", tmp);
  }
  if (fd < 0) return Error{EEXIST, "no free temporary name beside " + name};
  UniqueFd file(fd);
  if (fchmod(fd, 0660) != 0 || fchown(fd, owner.uid, owner.gid) != 0) {
    Error error = sys_error("set owner and mode of", tmp);
    unlinkat(dirfd, tmp.c_str(), 0);
    return error;
  }
  if (renameat2(dirfd, tmp.c_str(), dirfd, name.c_str(), RENAME_NOREPLACE) != 0) {
    Error error = sys_error("rename lock file into place", name);
    unlinkat(dirfd, tmp.c_str(), 0);
    return error;
  }
  return file;
}

}  // namespace

Result<UniqueFd> open_lock_file(int dirfd, const std::string& name, const Owner& owner, bool create,
                                struct stat* opened) {
  struct stat st {};
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto existing = open_existing(dirfd, name, st);
    if (existing && opened != nullptr) *opened = st;
    if (existing || existing.error().code != ENOENT || !create) return existing;
    auto created = create_beside(dirfd, name, owner);
    if (created && opened != nullptr && fstat(created->get(), opened) != 0) {
      return sys_error("stat lock file", name);
    }
    if (created || created.error().code != EEXIST) return created;
    // Lost the race: open the winner's file.
  }
  return Error{EAGAIN, "lock file keeps disappearing: " + name};
}

bool lock_file_still_at_path(int fd, int dirfd, const std::string& name) {
  struct stat opened {
  }, at_path{};
  if (fstat(fd, &opened) != 0) return false;
  if (fstatat(dirfd, name.c_str(), &at_path, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return opened.st_ino == at_path.st_ino && opened.st_dev == at_path.st_dev;
}

bool lock_file_at_path(int fd, const std::string& path) {
  struct stat opened {
  }, at_path{};
  if (fstat(fd, &opened) != 0 || stat(path.c_str(), &at_path) != 0) return false;
  return opened.st_ino == at_path.st_ino && opened.st_dev == at_path.st_dev;
}

bool lock_file_at_path(dev_t device, ino_t inode, const std::string& path) {
  struct stat at_path {};
  if (stat(path.c_str(), &at_path) != 0) return false;
  return at_path.st_ino == inode && at_path.st_dev == device;
}

bool is_temporary_lock_name(const std::string& name) {
  if (name.starts_with(kTemporaryPrefix)) return true;  // ours
  // PBS's (proxmox-sys make_tmp_file): the lock file's path with its extension replaced by
  // `tmp_XXXXXX` (mkstemp: six letters or digits), e.g. `vm-200.tmp_Ab12Cd`.
  constexpr std::string_view kPbsMarker = ".tmp_";
  constexpr std::size_t kRandom = 6;
  if (name.size() < kPbsMarker.size() + kRandom + 1) return false;
  std::size_t marker = name.size() - kRandom - kPbsMarker.size();
  if (name.compare(marker, kPbsMarker.size(), kPbsMarker) != 0) return false;
  return std::all_of(name.end() - kRandom, name.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0; });
}

}  // namespace pbs
