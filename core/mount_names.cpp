// The mount's names; see mount_names.hpp.
#include "mount_names.hpp"

namespace pbs {
namespace {
constexpr std::string_view kManifestSuffix = ".manifest";
}

std::string manifest_node_name(std::string_view time) {
  return "." + std::string(time) + std::string(kManifestSuffix);
}

std::string_view manifest_node_time(std::string_view name) {
  if (name.size() <= 1 + kManifestSuffix.size() || name.front() != '.' ||
      !name.ends_with(kManifestSuffix)) {
    return {};
  }
  return name.substr(1, name.size() - 1 - kManifestSuffix.size());
}

std::string namespace_mount_path(const std::string& store, const Namespace& ns) {
  std::string out = store;
  for (const auto& c : ns.components())
    out += "/" + std::string(kNamespaceListName) + "/" + c;
  return out;
}

std::string mount_path(const LockObject& object) {
  std::string out =
      namespace_mount_path(object.store, object.ns) + "/" + object.group.rpath() + "/";
  switch (object.kind) {
    case LockKind::kGroup:
      return out + std::string(kGroupLockName);
    case LockKind::kSnapshot:
      return out + object.time;
    case LockKind::kManifest:
      return out + manifest_node_name(object.time);
  }
  return out;
}

}  // namespace pbs
