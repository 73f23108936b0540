// What `stat` and `ls -l` show for a node, and for how long the kernel may keep it.
#pragma once

#include <sys/stat.h>

#include <cstdint>

#include "listing_lookups.hpp"
#include "mount_model.hpp"
#include "node.hpp"

namespace pbs::fs {

/// How long the kernel may keep a node's attributes: lock nodes show live state, so theirs are
/// kept `attr_timeout` (our own lock changes invalidate them at once); the rest never change.
double attribute_timeout(const MountModel& mount, const Node& node);

/// The attributes the kernel sees for `node` (inode number `ino`). `listing`: the lookups the
/// entries of one listing request share (nullptr: a single node's attributes).
struct stat node_attributes(MountModel& mount, const Node& node, std::uint64_t ino,
                            ListingLookups* listing = nullptr);

}  // namespace pbs::fs
