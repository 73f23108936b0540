// MountTree: which nodes exist and what a directory holds. A node exists while its datastore
// object exists, or its lock file exists, or it is held through the mount. Everything is read
// from disk when asked: PBS adds and prunes snapshots under us all the time. No FUSE in here.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "datastore_registry.hpp"
#include "lock_directory.hpp"
#include "lock_root.hpp"
#include "mount_locks.hpp"
#include "mutex.hpp"
#include "node.hpp"

namespace pbs::fs {

class MountTree {
 public:
  /// `held`: the locks held through the mount (their nodes exist while held).
  MountTree(DatastoreRegistry& stores, const LockRoot& root, const MountLocks& held)
      : stores_(stores), root_(root), held_(held) {}

  /// The child `name` of the directory `parent`; ENOENT when there is none.
  Result<Node> child(const Node& parent, std::string_view name);
  /// The entries of the directory `dir`, sorted by name.
  Result<std::vector<std::pair<std::string, Node>>> children(const Node& dir);
  /// Whether `node` exists now; an error (EMFILE, ENFILE, ENOMEM) when that cannot be known:
  /// a node never vanishes because the daemon ran out of descriptors.
  Result<bool> exists(const Node& node);
  /// The datastore base path of `store` (empty when it is not configured).
  std::string datastore_path(const std::string& store);

 private:
  /// The objects that have a lock file or are held through the mount, of those `dir` (a
  /// namespace root, a type or a group directory) shows.
  Result<std::vector<LockObject>> locked_objects(const Node& dir);
  std::vector<std::string> child_namespaces(const Node& namespace_root);
  /// Logs once when a datastore's directory cannot be read (removed, unmounted, renamed) and
  /// once when it is back: the mount then shows only its lock files, which is easy to miss.
  void note_datastore_readable(const Datastore& store, const Result<std::vector<BackupType>>& read);

  DatastoreRegistry& stores_;
  const LockRoot& root_;
  const MountLocks& held_;
  LockFileListingCache lock_files_;
  Mutex unreadable_mutex_;
  std::set<std::string> unreadable_
      PBS_GUARDED_BY(unreadable_mutex_);  ///< stores whose directory could not be read last time
};

}  // namespace pbs::fs
