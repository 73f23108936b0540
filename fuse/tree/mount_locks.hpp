// MountLocks: the locks held through this mount, as the tree model reads them (for `ls -l`,
// the status text and the namespace listings). The daemon's LockManager is the one real
// implementation; unit tests of the model give a fixed one. Read-only, and cheap: called for
// every node of a listing, it must not wait behind lock file system calls.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lock_object.hpp"
#include "open_handle.hpp"

namespace pbs::fs {

class MountLocks {
 public:
  virtual ~MountLocks() = default;
  /// Every open handle of the lock file `lock_file` (its path below the lock root).
  virtual std::vector<std::shared_ptr<OpenHandle>> handles(const std::string& lock_file) const = 0;
  /// Which held objects a caller wants (a group's, a type's): the others are not copied.
  using ObjectFilter = std::function<bool(const LockObject&)>;
  /// The objects held through the mount in one namespace of a store, those `keep` accepts.
  virtual std::vector<LockObject> held_in(const std::string& store, const Namespace& ns,
                                          const ObjectFilter& keep) const = 0;
  /// How many requests wait through the mount for the lock file `lock_file`.
  virtual std::size_t waiter_count(const std::string& lock_file) const = 0;
};

}  // namespace pbs::fs
