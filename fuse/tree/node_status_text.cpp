// The status text of a lock node; see node_status_text.hpp.
#include "node_status_text.hpp"

#include <sstream>

namespace pbs::fs {

std::string node_status_text(MountModel& fs, const Node& node) {
  std::ostringstream out;
  NodeLockState state = node_lock_state(fs, node);
  out << "object: " << node.lock_object().describe() << "\n"
      << "state: " << state.state() << "\n"
      << "lock file: " << state.lock_file << "\n";
  for (const auto& h : state.holders)
    out << "holder: " << describe_holder(h) << "\n";
  out << "waiters: " << state.mount_waiters + state.direct_waiters << "\n";
  if (state.holders_of_replaced_files > 0) {
    out << "note: " << state.holders_of_replaced_files
        << " holder(s) through the mount hold a lock file that is no longer at this path (the "
           "lock root was replaced, or the file removed under their hold): PBS does not see "
           "those locks\n";
  }
  if (lock_file_is_stale(fs, node, state).value_or(false)) {
    out << "note: the datastore has no such " << to_string(node.lock_object().kind)
        << " (removed, or moved by PBS's move group/namespace): this lock file outlived it; a "
           "lock on it excludes only others who lock this name\n";
  }
  return out.str();
}

std::optional<bool> lock_file_is_stale(MountModel& fs, const Node& node,
                                       const NodeLockState& state) {
  if (!state.lock_file_exists) return false;
  LockObject object = node.lock_object();
  auto store = fs.stores->find(node.store);
  if (!store) return true;  // the datastore itself is gone from the configuration
  auto on_disk = store->has_directory(object.datastore_dir());
  if (!on_disk) return std::nullopt;
  return !*on_disk;
}

}  // namespace pbs::fs
