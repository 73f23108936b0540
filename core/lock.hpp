// Lock: a held PBS lock (RAII, released by closing), and PendingLock: a lock file opened and
// ready to be flocked, the state a waiter keeps between attempts.
#pragma once

#include <string>

#include "lock_object.hpp"
#include "lock_root.hpp"
#include "own_lock_opens.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

enum class LockMode { kShared, kExclusive };

/// The old-style manifest lock file's name after the snapshot time: `<time>.index.json.lck`.
inline constexpr const char* kOldManifestLockSuffix = ".index.json.lck";
std::string_view to_string(LockMode mode);

/// What to lock and how.
struct LockRequest {
  LockObject object;
  LockMode mode = LockMode::kExclusive;
  /// The datastore's base directory: with the old-locking marker present, the object's
  /// directory in it is flocked too. Empty: no datastore directory is locked.
  std::string datastore_path;
  /// Create the lock file (and its directories) if missing; otherwise a missing one is ENOENT.
  bool create = true;
};

/// A held lock. Destroying it (or release()) closes the file and so releases the lock.
class Lock {
 public:
  Lock() = default;
  Lock(Lock&&) noexcept = default;
  Lock& operator=(Lock&&) noexcept = default;

  bool held() const { return file_.valid(); }
  LockMode mode() const { return mode_; }
  int file_fd() const { return file_.get(); }
  /// Changes the mode of the held lock on the same file description (flock(2) conversion).
  /// Like flock(2), a failed conversion (EWOULDBLOCK) leaves the lock released.
  Result<void> convert(LockMode mode);
  /// Removes the lock file while holding it exclusively (PBS's destroy step); the lock stays
  /// held on the now unlinked file until release, and the directory is left in place.
  Result<void> remove_file();
  void release();

  /// The old-style lock's descriptor (the datastore directory or old manifest lock file), or -1.
  int old_style_fd() const { return old_style_.get(); }
  /// A lock already held on `file` (and `old_style`, when the old-locking marker was there)
  /// with `mode`: what another program image of the daemon was holding when it handed its
  /// descriptors over. Error when `file` is not an open regular file.
  static Result<Lock> adopt(const LockRoot& root, LockPath path, UniqueFd file, UniqueFd old_style,
                            LockMode mode);

 private:
  friend class PendingLock;
  // One descriptor per held lock: the directory is reopened only to remove the file.
  const LockRoot* root_ = nullptr;
  LockPath path_;
  LockFileFd file_;
  /// The old-style lock while the marker exists: the datastore directory (group, snapshot) or
  /// the old manifest lock file (manifest).
  UniqueFd old_style_;
  LockMode mode_ = LockMode::kShared;
};

/// A lock file opened by PBS's protocol, not yet locked. try_take() can be repeated without
/// reopening the file (reopening and closing it would wake everybody watching it).
class PendingLock {
 public:
  static Result<PendingLock> open(const LockRoot& root, LockRequest request);

  /// One non-blocking attempt: flock, double-stat and (old locking) the directory flock.
  /// EWOULDBLOCK while busy. A file replaced under us is reopened, and file_fd() changes.
  /// After success this PendingLock is spent (file_fd() is -1) until open() again.
  Result<Lock> try_take();
  int file_fd() const { return file_.get(); }
  /// Counts the files opened so far; changes whenever file_fd() refers to a new file.
  unsigned generation() const { return generation_; }
  const LockRequest& request() const { return request_; }
  /// The mode the next try_take() asks for (waiters on one file may want different modes).
  void set_mode(LockMode mode) { request_.mode = mode; }

 private:
  PendingLock(const LockRoot& root, LockRequest request)
      : root_(&root), request_(std::move(request)) {}
  Result<void> reopen();

  const LockRoot* root_;
  LockRequest request_;
  LockPath path_;
  LockFileFd file_;
  unsigned generation_ = 0;
};

/// Where the old-style lock of `object` is (what PBS processes lock while the old-locking
/// marker exists): the object's directory in the datastore at `datastore_path`, or for a
/// manifest `<root>/<store>/<snapshot dir>/<time>.index.json.lck`. Absolute; for inspection.
std::string old_style_lock_path(const LockRoot& root, const LockObject& object,
                                const std::string& datastore_path);

/// One non-blocking attempt to take the lock: EWOULDBLOCK when it is busy.
Result<Lock> try_lock(const LockRoot& root, LockRequest request);

}  // namespace pbs
