// LockRoot: the top of PBS's lock tree (`/run/proxmox-backup/locks`), with the owner that new
// files get and the old-locking marker that decides whether datastore directories are locked too.
#pragma once

#include <sys/types.h>

#include <string>

#include "lock_path.hpp"
#include "owner.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

inline constexpr const char* kDefaultLockRoot = "/run/proxmox-backup/locks";
inline constexpr const char* kDefaultOldLockingMarker = "/run/proxmox-backup/old-locking";

class LockRoot {
 public:
  /// Opens the lock root, creating it and missing parents (mode 0755, owned by `owner`) like
  /// PBS creates /run/proxmox-backup. ELOOP when the lock root itself is a symlink.
  static Result<LockRoot> open(const std::string& path, const Owner& owner,
                               std::string old_locking_marker = kDefaultOldLockingMarker);

  /// The directory that holds `path`'s file, created (0755, owner) where missing when `create`.
  /// ENOENT when it is missing and not `create`; ELOOP when a symlink is in the way.
  Result<UniqueFd> open_directory(const LockPath& path, bool create) const;

  /// True while the old-locking marker exists: then datastore directories are flocked too.
  bool old_locking_active() const;

  int fd() const { return fd_.get(); }
  /// The filesystem the lock files are on (st_dev of the lock root).
  dev_t device() const { return device_; }
  const std::string& path() const { return path_; }
  const Owner& owner() const { return owner_; }
  /// `<root>/<relative>`: the absolute path of a lock file, for messages and tools.
  std::string absolute(const LockPath& path) const;

 private:
  LockRoot(std::string path, UniqueFd fd, Owner owner, std::string marker, dev_t device)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        owner_(owner),
        marker_(std::move(marker)),
        device_(device) {}

  std::string path_;
  UniqueFd fd_;
  Owner owner_;
  std::string marker_;
  dev_t device_ = 0;
};

/// `dir` without trailing slashes (`/` stays `/`).
std::string trim_trailing_slashes(std::string dir);

}  // namespace pbs
