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

// The old-style lock of a group or snapshot: its datastore directory, flocked in the same mode.
// Returns an invalid fd when there is nothing to lock (no such directory).
Result<UniqueFd> take_datastore_dir_lock(const LockRequest& request) {
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

// The old-style manifest lock (PBS before 3.3.5, and every PBS process while the marker
// exists): `<root>/<store>/<snapshot's datastore dir>/<time>.index.json.lck`, e.g.
// `store1/ns/a/vm/100/2024-01-01T00:00:00Z/2024-01-01T00:00:00Z.index.json.lck`, created and
// checked by the same protocol as every lock file.
Result<UniqueFd> take_old_manifest_lock(const LockRoot& root, const LockRequest& request) {
  std::vector<std::string> dirs{request.object.store};
  const std::string snapshot_dir = request.object.datastore_dir();
  for (std::string_view rest = snapshot_dir; !rest.empty();) {
    auto slash = rest.find('/');
    dirs.emplace_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  const std::string name = request.object.time + kOldManifestLockSuffix;
  const std::string absolute = old_style_lock_path(root, request.object, {});
  for (int attempt = 0; attempt < kMaxReplacedRetries; ++attempt) {
    auto dir = open_or_create_directories(root.fd(), dirs, root.owner());
    if (!dir) return dir.error();
    auto file = open_lock_file(dir->get(), name, root.owner(), true);
    if (!file) return file.error();
    if (flock(file->get(), flock_operation(request.mode) | LOCK_NB) != 0) {
      return sys_error("lock old-style manifest lock file", absolute);
    }
    if (lock_file_at_path(file->get(), absolute)) return std::move(file.value());
  }
  return Error{EAGAIN, "lock file keeps being replaced: " + absolute};
}

// The lock that PBS processes use while the old-locking marker exists, taken besides the lock
// file: nothing (an invalid fd) while the marker is absent.
Result<UniqueFd> take_old_style_lock(const LockRoot& root, const LockRequest& request) {
  if (!root.old_locking_active()) return UniqueFd();
  if (request.object.kind == LockKind::kManifest) return take_old_manifest_lock(root, request);
  if (request.datastore_path.empty()) return UniqueFd();
  return take_datastore_dir_lock(request);
}

}  // namespace

std::string old_style_lock_path(const LockRoot& root, const LockObject& object,
                                const std::string& datastore_path) {
  if (object.kind != LockKind::kManifest) return datastore_path + "/" + object.datastore_dir();
  return (root.path() == "/" ? "" : root.path()) + "/" + object.store + "/" +
         object.datastore_dir() + "/" + object.time + kOldManifestLockSuffix;
}

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
  if (old_style_ && flock(old_style_.get(), flock_operation(mode) | LOCK_NB) != 0) {
    Error error = sys_error("convert old-style lock", path_.name);
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
  old_style_.reset();
  file_.reset();
}

Result<Lock> Lock::adopt(const LockRoot& root, LockPath path, UniqueFd file, UniqueFd old_style,
                         LockMode mode) {
  struct stat st {};
  if (!file || fstat(file.get(), &st) != 0)
    return sys_error("adopt lock file", root.absolute(path));
  if (!S_ISREG(st.st_mode)) return Error{EINVAL, "not a lock file: " + root.absolute(path)};
  Lock lock;
  lock.root_ = &root;
  lock.path_ = std::move(path);
  lock.file_ = LockFileFd::adopted(std::move(file), st);
  lock.old_style_ = std::move(old_style);
  lock.mode_ = mode;
  return lock;
}

Result<PendingLock> PendingLock::open(const LockRoot& root, LockRequest request) {
  PendingLock pending(root, std::move(request));
  pending.path_ = pending.request_.object.lock_path();
  if (auto ok = pending.reopen(); !ok) return ok.error();
  return pending;
}

Result<void> PendingLock::reopen() {
  file_.reset();
  auto dir = root_->cached_directory(path_, request_.create);
  // The lock root removed under us (mkdirat in a deleted directory fails with ENOENT): lock
  // where PBS will, in the root now at that path.
  if (!dir && dir.error().code == ENOENT && root_->refresh()) {
    dir = root_->cached_directory(path_, request_.create);
  }
  if (!dir) return dir.error();
  struct stat opened {};
  auto file = open_lock_file((*dir)->get(), path_.name, root_->owner(), request_.create, &opened);
  if (!file && file.error().code == ENOENT && request_.create) {
    // Creating fails with ENOENT only in a directory that was removed: the cached one was.
    root_->forget_directories();
    root_->refresh();
    dir = root_->cached_directory(path_, request_.create);
    if (!dir) return dir.error();
    file = open_lock_file((*dir)->get(), path_.name, root_->owner(), request_.create, &opened);
  }
  if (!file) return file.error();
  file_ = LockFileFd(std::move(file.value()), opened);
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
    if (!lock_file_at_path(file_.device(), file_.inode(), root_->absolute(path_))) {
      // Removed or replaced after we opened it: whoever holds the file now decides. Start again,
      // in a new lock root if the old one was renamed or removed (PBS locks where the path is).
      file_.reset();
      root_->forget_directories();
      root_->refresh();
      continue;
    }
    auto dir_lock = take_old_style_lock(*root_, request_);
    if (!dir_lock) {
      // Keep the file open (closing would wake watchers), but do not hold it half-locked.
      flock(file_.get(), LOCK_UN);
      return dir_lock.error();
    }
    Lock lock;
    lock.root_ = root_;
    lock.path_ = path_;
    lock.file_ = std::move(file_);
    lock.old_style_ = std::move(dir_lock.value());
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
