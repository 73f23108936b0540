// How pbs-lockfs names things below its mountpoint, in both directions: the names it shows
// (building) and the names it accepts back in a lookup (parsing). The only place that knows
// them; the tree, the daemon and pbs-lockctl all go through here.
//
//   store1/                                 the store's root namespace
//   store1/ns/prod/ns/dev/                  namespace prod/dev ("ns" lists child namespaces)
//   store1/ns/prod/vm/100/.lock             the group lock of vm/100
//   store1/ns/prod/vm/100/<time>            the snapshot lock
//   store1/ns/prod/vm/100/.<time>.manifest  the snapshot's manifest lock
#pragma once

#include <string>
#include <string_view>

#include "lock_object.hpp"
#include "names.hpp"

namespace pbs {

/// The directory in a store or namespace that lists its child namespaces.
inline constexpr std::string_view kNamespaceListName = "ns";
/// The group lock's node in a group directory.
inline constexpr std::string_view kGroupLockName = ".lock";

/// The name of a snapshot's manifest node: `.2024-01-01T00:00:00Z.manifest`.
std::string manifest_node_name(std::string_view time);
/// The time in a manifest node's name, or empty when `name` is not one.
std::string_view manifest_node_time(std::string_view name);

/// A store's namespace directory below the mountpoint: `store1`, `store1/ns/prod/ns/dev`.
std::string namespace_mount_path(const std::string& store, const Namespace& ns);
/// Where a lock shows below the mountpoint: `store1/ns/prod/vm/100/.lock`,
/// `…/vm/100/<time>` or `…/vm/100/.<time>.manifest`.
std::string mount_path(const LockObject& object);

}  // namespace pbs
