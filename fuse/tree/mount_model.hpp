// MountModel: what the mount shows, without FUSE: the options, the datastores, the lock root,
// the tree of nodes, the inode table, and the locks held through the mount (read through
// MountLocks). The daemon's Filesystem adds the FUSE side (session, access policy, the lock
// manager that answers requests); unit tests build a MountModel alone, without root or a mount.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "datastore_registry.hpp"
#include "inode_table.hpp"
#include "lock_root.hpp"
#include "lock_state.hpp"
#include "mount_holders.hpp"
#include "mount_locks.hpp"
#include "mount_tree.hpp"
#include "options.hpp"
#include "owner.hpp"

namespace pbs::fs {

struct MountModel {
  Options options;
  Owner owner;  ///< what nodes show as their owner (backup:backup)
  std::unique_ptr<DatastoreRegistry> stores;
  std::optional<LockRoot> lock_root;
  InodeTable inodes;
  std::unique_ptr<MountTree> tree;
  /// The locks held through this mount; set once, before the first request.
  const MountLocks* locks = nullptr;
  ProcLocksSnapshot proc_locks;
  FirstSeen first_seen;
  /// The real requesters behind other pbs-lockfs daemons' locks on this lock root.
  std::unique_ptr<MountHoldersResolver> other_mounts;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

}  // namespace pbs::fs
