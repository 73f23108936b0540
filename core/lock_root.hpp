// LockRoot: the top of PBS's lock tree (`/run/proxmox-backup/locks`), with the owner that new
// files get and the old-locking marker that decides whether datastore directories are locked too.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lock_path.hpp"
#include "mutex.hpp"
#include "owner.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

inline constexpr const char* kDefaultLockRoot = "/run/proxmox-backup/locks";
inline constexpr const char* kDefaultOldLockingMarker = "/run/proxmox-backup/old-locking";

/// The lock root is PBS's `/run/proxmox-backup/locks`, on a tmpfs that admins and scripts clean
/// up: it may be renamed, removed and recreated while we run. PBS then locks in the new one (it
/// walks the path every time), so we must too: fd() is the directory now at path(), replaced by
/// refresh() when that changed. Descriptors of replaced roots are kept open (never reused for
/// another file under a concurrent user) and counted; locks held in them stay held.
class LockRoot {
 public:
  /// Opens the lock root, creating it and missing parents (mode 0755, owned by `owner`) like
  /// PBS creates /run/proxmox-backup. ELOOP when the lock root itself is a symlink.
  static Result<LockRoot> open(const std::string& path, const Owner& owner,
                               std::string old_locking_marker = kDefaultOldLockingMarker);

  /// The directory that holds `path`'s file (an O_PATH descriptor, for *at() calls), created
  /// (0755, owner) where missing when `create`.
  /// ENOENT when it is missing and not `create`; ELOOP when a symlink is in the way.
  Result<UniqueFd> open_directory(const LockPath& path, bool create) const;

  /// open_directory() for lock attempts, from a cache of the lock directories' descriptors, so
  /// that a lock cycle opens no directory. Safe because a lock is checked against the file at
  /// its absolute path before it counts (PBS's double-stat): a cached directory that was renamed
  /// or removed fails that check, and forget_directories() then drops the cache.
  Result<std::shared_ptr<const UniqueFd>> cached_directory(const LockPath& path, bool create) const;
  /// Drops every cached directory descriptor (refresh() does too when the root was replaced).
  void forget_directories() const;

  /// True while the old-locking marker exists: then datastore directories are flocked too.
  bool old_locking_active() const;

  /// Checks whether path() is still the directory fd() refers to; when it was renamed, removed
  /// or replaced, opens (creating as PBS would) the one there now, logs it and returns true.
  /// `at_most_every`: skip the check when the last one is more recent (for listings; a lock
  /// attempt that found its file gone checks always).
  bool refresh(std::chrono::milliseconds at_most_every = std::chrono::milliseconds(0)) const;
  /// How often refresh() found the lock root replaced.
  unsigned replacements() const { return current_->replacements.load(); }

  int fd() const { return current_->fd.load(); }
  /// The filesystem the lock files are on (st_dev of the lock root).
  dev_t device() const { return current_->device.load(); }
  const std::string& path() const { return path_; }
  const Owner& owner() const { return owner_; }
  /// `<root>/<relative>`: the absolute path of a lock file, for messages and tools.
  std::string absolute(const LockPath& path) const;

 private:
  struct Current {
    std::atomic<int> fd{-1};
    std::atomic<dev_t> device{0};
    std::atomic<ino_t> inode{0};
    std::atomic<unsigned> replacements{0};
    std::atomic<std::chrono::steady_clock::rep> checked{0};
    Mutex mutex;  ///< serialises refresh()
    /// The current descriptor and every replaced one.
    std::vector<UniqueFd> owned PBS_GUARDED_BY(mutex);
    bool missing_reported PBS_GUARDED_BY(mutex) =
        false;  ///< the lock root could not be reopened, and we said so
    Mutex directories_mutex;
    /// cached_directory()'s descriptors, by the directory's path below the lock root.
    std::map<std::string, std::shared_ptr<const UniqueFd>> directories
        PBS_GUARDED_BY(directories_mutex);
  };
  LockRoot(std::string path, Owner owner, std::string marker)
      : path_(std::move(path)),
        owner_(owner),
        marker_(std::move(marker)),
        current_(std::make_unique<Current>()) {}

  std::string path_;
  Owner owner_;
  std::string marker_;
  std::unique_ptr<Current> current_;
};

/// `dir` without trailing slashes (`/` stays `/`).
std::string trim_trailing_slashes(std::string dir);

}  // namespace pbs
