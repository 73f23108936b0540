// The text a read of an open lock node returns (state, holders, waiters: the same facts as the
// extended attributes), and whether its lock file outlived its datastore object.
#pragma once

#include <optional>
#include <string>

#include "lock_state.hpp"
#include "mount_model.hpp"
#include "node.hpp"

namespace pbs::fs {

/// The status text of the lock node `node`.
std::string node_status_text(MountModel& mount, const Node& node);

/// Whether `node`'s lock file outlived its datastore object (a prune without cleanup, a removed
/// store, a snapshot moved by PBS 4.2's move group/namespace): nullopt when the datastore could
/// not be read (out of descriptors), so that no wrong answer is given.
std::optional<bool> lock_file_is_stale(MountModel& mount, const Node& node,
                                       const NodeLockState& state);

}  // namespace pbs::fs
