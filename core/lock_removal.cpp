// The destroy protocol; see lock_removal.hpp.
#include "lock_removal.hpp"

namespace pbs {

std::vector<LockRequest> snapshot_removal(const LockObject& snapshot,
                                          const std::string& datastore_path) {
  LockObject manifest = snapshot;
  manifest.kind = LockKind::kManifest;
  return {{snapshot, LockMode::kExclusive, datastore_path, false},
          {manifest, LockMode::kExclusive, {}, false}};
}

Result<void> remove_lock_files(const LockRoot& root, const std::vector<LockRequest>& objects,
                               Lock* held) {
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
    auto lock = try_lock(root, request);
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
