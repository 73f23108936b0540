// The lookups one listing shares; see listing_lookups.hpp.
#include "listing_lookups.hpp"

#include "lock_root.hpp"
#include "mount_model.hpp"

namespace pbs::fs {

bool ListingLookups::old_locking() {
  if (!old_locking_) old_locking_ = fs_.lock_root->old_locking_active();
  return *old_locking_;
}

int ListingLookups::directory(const LockPath& path) {
  std::string key = path.directory();
  auto found = directories_.find(key);
  if (found == directories_.end()) {
    auto dir = fs_.lock_root->open_directory(path, false);
    found = directories_.emplace(std::move(key), dir ? std::move(dir.value()) : UniqueFd()).first;
  }
  return found->second.get();
}

}  // namespace pbs::fs
