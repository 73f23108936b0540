// Node naming; see node.hpp.
#include "node.hpp"

namespace pbs::fs {
namespace {
constexpr std::string_view kManifestSuffix = ".manifest";  // as manifest_node_name() writes it
}

bool Node::is_directory() const {
  switch (kind) {
    case NodeKind::kGroupLock:
    case NodeKind::kSnapshot:
    case NodeKind::kManifest:
    case NodeKind::kStatusFile:
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

std::string Node::key() const {
  if (kind == NodeKind::kRoot) return "";
  if (kind == NodeKind::kStatusFile) return std::string(kStatusFileName);
  if (is_lock()) return lock_object().mount_path();
  std::string out = store;
  for (const auto& c : ns.components())
    out += "/ns/" + c;
  switch (kind) {
    case NodeKind::kNamespaceList:
      return out + "/ns";
    case NodeKind::kType:
      return out + "/" + std::string(to_string(type));
    case NodeKind::kGroup:
      return out + "/" + group().rpath();
    default:
      return out;
  }
}

std::string_view manifest_node_time(std::string_view name) {
  if (name.size() <= 1 + kManifestSuffix.size() || name.front() != '.' ||
      !name.ends_with(kManifestSuffix)) {
    return {};
  }
  return name.substr(1, name.size() - 1 - kManifestSuffix.size());
}

}  // namespace pbs::fs
