// Filesystem: everything the FUSE operations share (options, datastores, lock root, inode table,
// lock manager), reached from a request through fuse_req_userdata().
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <chrono>
#include <memory>
#include <optional>

#include "caller.hpp"
#include "datastore_registry.hpp"
#include "inode_table.hpp"
#include "lock_manager.hpp"
#include "lock_root.hpp"
#include "lock_state.hpp"
#include "mount_holders.hpp"
#include "mount_tree.hpp"
#include "options.hpp"
#include "request.hpp"
#include "resource_shortage.hpp"

namespace pbs::fs {

struct Filesystem {
  Options options;
  AccessPolicy access;
  Owner owner;
  std::unique_ptr<DatastoreRegistry> stores;
  std::optional<LockRoot> root;
  InodeTable inodes;
  std::unique_ptr<LockManager> locks;
  std::unique_ptr<MountTree> tree;
  ProcLocksSnapshot proc_locks;
  FirstSeen first_seen;
  /// The real requesters behind other pbs-lockfs daemons' locks on this lock root.
  std::unique_ptr<MountHoldersResolver> other_mounts;
  ResourceShortage shortage;
  fuse_session* session = nullptr;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  static Filesystem& of(fuse_req_t req) {
    return *static_cast<Filesystem*>(fuse_req_userdata(req));
  }
  static Filesystem& of(const Request& req) { return of(req.get()); }
};

/// The FUSE low-level operations of pbs-lockfs.
fuse_lowlevel_ops filesystem_operations();

/// How long the kernel may keep a node's attributes: lock nodes show live state, so theirs are
/// kept `attr_timeout` (our own lock changes invalidate them at once); the rest never change.
double attribute_timeout(const Filesystem& fs, const Node& node);

/// The attributes the kernel sees for `node` (inode number `ino`).
struct stat node_attributes(Filesystem& fs, const Node& node, std::uint64_t ino);

/// The text a read of an open lock node (or of the status file) returns.
std::string node_status_text(Filesystem& fs, const Node& node);

/// Whether `node`'s lock file outlived its datastore object (a prune without cleanup, a removed
/// store, a snapshot moved by PBS 4.2's move group/namespace): nullopt when the datastore could
/// not be read (out of descriptors), so that no wrong answer is given.
std::optional<bool> lock_file_is_stale(Filesystem& fs, const Node& node,
                                       const NodeLockState& state);

}  // namespace pbs::fs
