// PBS's lock protocol (open/create, flock, double-stat, old-style directory lock).
#include "lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "lock_file.hpp"
#include "safe_dir.hpp"

namespace pbs {
namespace {

int flock_operation(LockMode mode) {
  return mode == LockMode::kShared ? LOCK_SH : LOCK_EX;
}

// How often a non-blocking attempt reopens a file that other processes keep replacing.
constexpr int kMaxReplacedRetries = 4;

// The old-style lock: the object's datastore directory, flocked in the same mode.
// Returns an invalid fd when there is nothing to lock (no marker, no such directory).
Result<UniqueFd> take_datastore_dir_lock(const LockRoot& root, const LockRequest& request) {
  if (request.datastore_path.empty() || !root.old_locking_active()) return UniqueFd();
  int base = ::open(request.datastore_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (base < 0) return sys_error("open datastore", request.datastore_path);
  UniqueFd base_fd(base);
  auto dir = open_beneath(base, request.object.datastore_dir(), O_RDONLY | O_DIRECTORY);
  if (!dir) {
    if (dir.error().code == ENOENT) return UniqueFd();
    return dir.error();
  }
  if (flock(dir->get(), flock_operation(request.mode) | LOCK_NB) != 0) {
    return sys_error("lock datastore directory", request.object.datastore_dir());
  }
  return std::move(dir.value());
}

}  // namespace

std::string_view to_string(LockMode mode) {
  return mode == LockMode::kShared ? "shared" : "exclusive";
}

Result<void> Lock::convert(LockMode mode) {
  if (!held()) return Error{EBADF, "lock not held"};
  if (flock(file_.get(), flock_operation(mode) | LOCK_NB) != 0) {
    Error error = sys_error("convert lock", path_.name);
    release();
    return error;
  }
  if (datastore_dir_ && flock(datastore_dir_.get(), flock_operation(mode) | LOCK_NB) != 0) {
    Error error = sys_error("convert datastore directory lock", path_.name);
    release();
    return error;
  }
  mode_ = mode;
  return {};
}

Result<void> Lock::remove_file() {
  if (!held()) return Error{EBADF, "lock not held"};
  if (mode_ != LockMode::kExclusive) {
    return Error{EPERM, "removing a lock file needs the exclusive lock: " + path_.name};
  }
  auto dir = root_->open_directory(path_, false);
  if (!dir) return dir.error().code == ENOENT ? Result<void>() : Result<void>(dir.error());
  // Only the file we hold: while we hold it exclusively nobody else may replace it.
  if (!lock_file_still_at_path(file_.get(), dir->get(), path_.name)) return {};  // already gone
  if (unlinkat(dir->get(), path_.name.c_str(), 0) != 0 && errno != ENOENT) {
    return sys_error("remove lock file", path_.name);
  }
  return {};
}

void Lock::release() {
  datastore_dir_.reset();
  file_.reset();
}

Result<PendingLock> PendingLock::open(const LockRoot& root, LockRequest request) {
  PendingLock pending(root, std::move(request));
  pending.path_ = pending.request_.object.lock_path();
  if (auto ok = pending.reopen(); !ok) return ok.error();
  return pending;
}

Result<void> PendingLock::reopen() {
  file_.reset();
  auto dir = root_->open_directory(path_, request_.create);
  // The lock root removed under us (mkdirat in a deleted directory fails with ENOENT): lock
  // where PBS will, in the root now at that path.
  if (!dir && dir.error().code == ENOENT && root_->refresh()) {
    dir = root_->open_directory(path_, request_.create);
  }
  if (!dir) return dir.error();
  auto file = open_lock_file(dir->get(), path_.name, root_->owner(), request_.create);
  if (!file) return file.error();
  dir_ = std::move(dir.value());
  file_ = std::move(file.value());
  ++generation_;
  return {};
}

Result<Lock> PendingLock::try_take() {
  for (int attempt = 0; attempt < kMaxReplacedRetries; ++attempt) {
    if (!file_) {
      if (auto ok = reopen(); !ok) return ok.error();
    }
    if (flock(file_.get(), flock_operation(request_.mode) | LOCK_NB) != 0) {
      return sys_error("lock", root_->absolute(path_));
    }
    if (!lock_file_at_path(file_.get(), root_->absolute(path_))) {
      // Removed or replaced after we opened it: whoever holds the file now decides. Start again,
      // in a new lock root if the old one was renamed or removed (PBS locks where the path is).
      flock(file_.get(), LOCK_UN);
      file_.reset();
      root_->refresh();
      continue;
    }
    auto dir_lock = take_datastore_dir_lock(*root_, request_);
    if (!dir_lock) {
      // Keep the file open (closing would wake watchers), but do not hold it half-locked.
      flock(file_.get(), LOCK_UN);
      return dir_lock.error();
    }
    Lock lock;
    lock.root_ = root_;
    lock.path_ = path_;
    lock.file_ = std::move(file_);
    dir_.reset();
    lock.datastore_dir_ = std::move(dir_lock.value());
    lock.mode_ = request_.mode;
    return lock;
  }
  return Error{EAGAIN, "lock file keeps being replaced: " + root_->absolute(path_)};
}

Result<Lock> try_lock(const LockRoot& root, LockRequest request) {
  auto pending = PendingLock::open(root, std::move(request));
  if (!pending) return pending.error();
  return pending->try_take();
}

}  // namespace pbs
