// Datastore listings; see datastore.hpp.
#include "datastore.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "safe_dir.hpp"

namespace pbs {

std::string Datastore::join(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "/" + child;
}

Result<std::vector<std::string>> Datastore::subdirectories(
    const std::string& relative, const std::function<bool(const std::string&)>& valid) const {
  int base = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (base < 0) return sys_error("open datastore", path_);
  UniqueFd base_fd(base);
  auto dir = open_beneath(base, relative, O_RDONLY | O_DIRECTORY);
  if (!dir) return dir.error();
  auto entries = read_directory(dir->get());
  if (!entries) return entries.error();
  std::vector<std::string> out;
  for (auto& entry : *entries) {
    if (entry.type == S_IFDIR && valid(entry.name)) out.push_back(std::move(entry.name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<std::string>> Datastore::child_namespaces(const Namespace& ns) const {
  return subdirectories(join(ns.datastore_path(), "ns"),
                        [&](const std::string& name) { return ns.child(name).ok(); });
}

Result<std::vector<BackupType>> Datastore::types(const Namespace& ns) const {
  auto names = subdirectories(ns.datastore_path(),
                              [](const std::string& name) { return parse_backup_type(name).ok(); });
  if (!names) return names.error();
  std::vector<BackupType> out;
  for (const auto& name : *names)
    out.push_back(*parse_backup_type(name));
  return out;
}

Result<std::vector<std::string>> Datastore::group_ids(const Namespace& ns, BackupType type) const {
  return subdirectories(join(ns.datastore_path(), std::string(to_string(type))),
                        [](const std::string& name) { return check_group_id(name).ok(); });
}

Result<std::vector<std::string>> Datastore::snapshot_times(const Namespace& ns,
                                                           const BackupGroup& group) const {
  return subdirectories(join(ns.datastore_path(), group.rpath()),
                        [](const std::string& name) { return check_snapshot_time(name).ok(); });
}

Result<bool> Datastore::has_directory(const std::string& relative) const {
  // O_PATH: only the walk below it (every lock through the mount asks this), nothing read.
  int base = ::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (base < 0) {
    if (is_resource_shortage(errno)) return sys_error("open datastore", path_);
    return false;
  }
  UniqueFd base_fd(base);
  auto dir = open_beneath(base, relative, O_PATH | O_DIRECTORY);
  if (!dir && is_resource_shortage(dir.error().code)) return dir.error();
  return dir.ok();
}

}  // namespace pbs
