// ListingLookups: what one listing request looks up once for all of its entries instead of once
// per entry: whether the old-locking marker exists, and the lock directories' descriptors.
// READDIRPLUS answers about 200 entries a request, all of one group, whose lock files share one
// or two directories. It lives for that one request (milliseconds), so a listing never shows
// anything older than the listing itself.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "lock_path.hpp"
#include "unique_fd.hpp"

namespace pbs::fs {

struct MountModel;

class ListingLookups {
 public:
  explicit ListingLookups(const MountModel& fs) : fs_(fs) {}
  ListingLookups(const ListingLookups&) = delete;
  ListingLookups& operator=(const ListingLookups&) = delete;

  /// Whether the old-locking marker exists (looked at once per listing).
  bool old_locking();
  /// The `O_PATH` descriptor of `path`'s lock directory (opened once per listing and
  /// directory, never created, no symlinks followed); -1 when it does not exist.
  int directory(const LockPath& path);

 private:
  const MountModel& fs_;
  std::optional<bool> old_locking_;
  std::map<std::string, UniqueFd> directories_;  ///< by the directory's path below the lock root
};

}  // namespace pbs::fs
