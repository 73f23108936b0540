// Datastore: one PBS datastore on disk, read only. Lists namespaces, groups and snapshots from
// their directories, never through a symlink, showing only names valid in PBS.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "names.hpp"
#include "result.hpp"

namespace pbs {

class Datastore {
 public:
  Datastore(std::string name, std::string path) : name_(std::move(name)), path_(std::move(path)) {}

  const std::string& name() const { return name_; }
  /// The base directory, e.g. `/mnt/datastore/store1`.
  const std::string& path() const { return path_; }

  /// Child namespaces of `ns`: the valid directories in `<base>/<ns>/ns/`.
  Result<std::vector<std::string>> child_namespaces(const Namespace& ns) const;
  /// The backup types that have a directory in `ns`.
  Result<std::vector<BackupType>> types(const Namespace& ns) const;
  /// The group ids of `type` in `ns`: `<base>/<ns>/<type>/<id>/`.
  Result<std::vector<std::string>> group_ids(const Namespace& ns, BackupType type) const;
  /// The snapshot times of a group: `<base>/<ns>/<type>/<id>/<time>/`.
  Result<std::vector<std::string>> snapshot_times(const Namespace& ns,
                                                  const BackupGroup& group) const;

  /// Whether `relative` (e.g. `ns/a/vm/100`) is a directory of the datastore, reached without
  /// following a symlink.
  /// Whether the directory exists (never through a symlink); an error only when the answer is
  /// unknown because descriptors or memory ran out.
  Result<bool> has_directory(const std::string& relative) const;

  /// `relative` joined to a namespace's datastore path: ("ns/a", "vm") -> "ns/a/vm".
  static std::string join(const std::string& parent, const std::string& child);

 private:
  Result<std::vector<std::string>> subdirectories(
      const std::string& relative, const std::function<bool(const std::string&)>& valid) const;

  std::string name_;
  std::string path_;
};

}  // namespace pbs
