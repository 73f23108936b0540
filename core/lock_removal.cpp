// The destroy protocol; see lock_removal.hpp.
#include "lock_removal.hpp"

#include <algorithm>
#include <thread>

namespace pbs {

std::vector<LockRequest> snapshot_removal(const LockObject& snapshot,
                                          const std::string& datastore_path) {
  LockObject manifest = snapshot;
  manifest.kind = LockKind::kManifest;
  return {{snapshot, LockMode::kExclusive, datastore_path, false},
          {manifest, LockMode::kExclusive, {}, false}};
}

namespace {

// One lock of a removal, taken without waiting; a manifest is waited for like PBS's
// lock_manifest does (polling: flock(2) cannot wait with a deadline or be interrupted).
Result<Lock> take_for_removal(const LockRoot& root, const LockRequest& request,
                              const std::function<bool()>& interrupted) {
  auto pending = PendingLock::open(root, request);
  if (!pending) return pending.error();
  auto lock = pending->try_take();
  if (lock || lock.error().code != EWOULDBLOCK || request.object.kind != LockKind::kManifest) {
    return lock;
  }
  const auto deadline = std::chrono::steady_clock::now() + kManifestWait;
  std::chrono::milliseconds pause{1};
  while (std::chrono::steady_clock::now() < deadline) {
    if (interrupted && interrupted()) {
      return Error{EINTR, "interrupted while waiting for " + request.object.describe()};
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
    lock = pending->try_take();
    if (lock || lock.error().code != EWOULDBLOCK) return lock;
  }
  return lock;
}

}  // namespace

Result<void> remove_lock_files(const LockRoot& root, const std::vector<LockRequest>& objects,
                               Lock* held, const std::function<bool()>& interrupted) {
  std::vector<Lock> taken;
  std::vector<Lock*> order;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (i == 0 && held != nullptr) {
      if (!held->held() || held->mode() != LockMode::kExclusive) {
        return Error{EBUSY, "removal needs the exclusive lock: " + objects[0].object.describe()};
      }
      order.push_back(held);
      continue;
    }
    LockRequest request = objects[i];
    request.mode = LockMode::kExclusive;
    request.create = false;
    auto lock = take_for_removal(root, request, interrupted);
    if (!lock) {
      if (lock.error().code == ENOENT) continue;  // no lock file: nothing to remove
      if (lock.error().code == EWOULDBLOCK) {
        return Error{EBUSY, "lock is held: " + request.object.describe()};
      }
      return lock.error();
    }
    taken.push_back(std::move(lock.value()));
  }
  for (auto& lock : taken)
    order.push_back(&lock);
  // Unlink in reverse locking order (the manifest before the snapshot), all while held.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (auto ok = (*it)->remove_file(); !ok) return ok.error();
  }
  return {};
}

}  // namespace pbs
