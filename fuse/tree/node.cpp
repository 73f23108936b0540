// Node naming; see node.hpp.
#include "node.hpp"

#include "mount_names.hpp"

namespace pbs::fs {

bool Node::is_directory() const {
  switch (kind) {
    case NodeKind::kGroupLock:
    case NodeKind::kSnapshot:
    case NodeKind::kManifest:
    case NodeKind::kStatusFile:
    case NodeKind::kEventsFile:
    case NodeKind::kMetricsFile:
      return false;
    default:
      return true;
  }
}

bool Node::is_lock() const {
  return kind == NodeKind::kGroupLock || kind == NodeKind::kSnapshot || kind == NodeKind::kManifest;
}

LockObject Node::lock_object() const {
  switch (kind) {
    case NodeKind::kSnapshot:
      return LockObject::snapshot_lock(store, ns, {group(), time});
    case NodeKind::kManifest:
      return LockObject::manifest_lock(store, ns, {group(), time});
    default:
      return LockObject::group_lock(store, ns, group());
  }
}

std::string Node::mount_path() const {
  if (kind == NodeKind::kRoot) return "";
  if (kind == NodeKind::kStatusFile) return std::string(kStatusFileName);
  if (kind == NodeKind::kEventsFile) return std::string(kEventsFileName);
  if (kind == NodeKind::kMetricsFile) return std::string(kMetricsFileName);
  if (is_lock()) return pbs::mount_path(lock_object());
  std::string out = namespace_mount_path(store, ns);
  switch (kind) {
    case NodeKind::kNamespaceList:
      return out + "/" + std::string(kNamespaceListName);
    case NodeKind::kType:
      return out + "/" + std::string(to_string(type));
    case NodeKind::kGroup:
      return out + "/" + group().rpath();
    default:
      return out;
  }
}

}  // namespace pbs::fs
