// Reading the lock tree back: which lock files exist for a store's namespace, parsed back into
// the objects they lock (so that stale lock files outliving their snapshot stay visible).
#pragma once

#include <sys/stat.h>

#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datastore.hpp"
#include "lock_object.hpp"
#include "lock_root.hpp"
#include "mutex.hpp"

namespace pbs {

/// Parses a lock file name back into its object: `vm-100` -> group vm/100. Nothing for names
/// that are not PBS lock names (temporary files, hashed names, anything else).
std::optional<LockObject> parse_lock_file_name(const std::string& store, const Namespace& ns,
                                               const std::string& name);

/// The objects whose lock files exist in `<root>/<store>/<ns a:b>/` (hashed names are one-way
/// and are not listed). A missing directory is an empty list.
Result<std::vector<LockObject>> list_lock_files(const LockRoot& root, const std::string& store,
                                                const Namespace& ns);

/// The objects of namespace `ns` of `datastore` whose lock files are hashed (escaped names of 255
/// bytes or more, `hashed/<first 80>...<last 80>-<sha256>`), by file name: a hashed name cannot
/// be read back, only found again by hashing what the datastore holds.
std::map<std::string, LockObject> hashed_objects(const Datastore& datastore,
                                                 const std::string& store, const Namespace& ns);

/// list_lock_files(), remembered per lock directory while the directory is unchanged (same
/// inode and modification time): a listing then costs one stat of the directory, however many
/// lock files the store has. A directory modified in the last 100 ms is read every time (its
/// timestamp may not yet tell two changes apart).
class LockFileListingCache {
 public:
  /// An error only when descriptors or memory ran out (a missing directory is an empty list).
  Result<std::shared_ptr<const std::vector<LockObject>>> list(const LockRoot& root,
                                                              const std::string& store,
                                                              const Namespace& ns);

 private:
  struct Entry {
    dev_t device = 0;
    ino_t inode = 0;
    timespec modified{};
    std::shared_ptr<const std::vector<LockObject>> objects;
  };
  Mutex mutex_;
  std::map<std::string, Entry> entries_ PBS_GUARDED_BY(mutex_);
};

/// The child namespaces of `ns` that have a lock directory (`a:b:c` is a child of `a:b`).
Result<std::vector<std::string>> list_lock_child_namespaces(const LockRoot& root,
                                                            const std::string& store,
                                                            const Namespace& ns);

/// Whether the lock file of `object` exists (never through a symlink); an error only when the
/// answer is unknown because descriptors or memory ran out.
Result<bool> lock_file_exists(const LockRoot& root, const LockObject& object);

/// Whether the namespace `ns` has a lock directory (or a deeper one below it).
bool lock_namespace_exists(const LockRoot& root, const std::string& store, const Namespace& ns);

}  // namespace pbs
