// Paths and descriptions of lockable objects.
#include "lock_object.hpp"

namespace pbs {

std::string_view to_string(LockKind kind) {
  switch (kind) {
    case LockKind::kGroup:
      return "group";
    case LockKind::kSnapshot:
      return "snapshot";
    case LockKind::kManifest:
      return "manifest";
  }
  return "?";
}

LockObject LockObject::group_lock(std::string store, Namespace ns, BackupGroup group) {
  return {std::move(store), std::move(ns), LockKind::kGroup, std::move(group), {}};
}

LockObject LockObject::snapshot_lock(std::string store, Namespace ns, BackupSnapshot snapshot) {
  return {std::move(store), std::move(ns), LockKind::kSnapshot, std::move(snapshot.group),
          std::move(snapshot.time)};
}

LockObject LockObject::manifest_lock(std::string store, Namespace ns, BackupSnapshot snapshot) {
  return {std::move(store), std::move(ns), LockKind::kManifest, std::move(snapshot.group),
          std::move(snapshot.time)};
}

Result<LockObject> LockObject::parse(std::string_view store, Namespace ns, std::string_view object,
                                     bool manifest) {
  if (auto ok = check_store_name(store); !ok) return ok.error();
  std::string_view group_text = object, time;
  bool has_time = false;
  if (auto first = object.find('/'); first != std::string_view::npos) {
    if (auto second = object.find('/', first + 1); second != std::string_view::npos) {
      group_text = object.substr(0, second);
      time = object.substr(second + 1);
      has_time = true;  // "vm/100/" is not the group vm/100 (found by the fuzzer's reference)
    }
  }
  auto group = BackupGroup::parse(group_text);
  if (!group) return group.error();
  if (!has_time) {
    if (manifest) return Error{EINVAL, "a manifest lock needs a snapshot: TYPE/ID/TIME"};
    return group_lock(std::string(store), std::move(ns), std::move(group.value()));
  }
  if (auto ok = check_snapshot_time(time); !ok) return ok.error();
  BackupSnapshot snapshot{std::move(group.value()), std::string(time)};
  if (manifest) return manifest_lock(std::string(store), std::move(ns), std::move(snapshot));
  return snapshot_lock(std::string(store), std::move(ns), std::move(snapshot));
}

std::string LockObject::rpath() const {
  switch (kind) {
    case LockKind::kGroup:
      return group.rpath();
    case LockKind::kSnapshot:
      return snapshot().rpath();
    case LockKind::kManifest:
      return snapshot().rpath() + "/.index.json.lck";
  }
  return {};
}

std::string LockObject::datastore_dir() const {
  std::string out = ns.datastore_path();
  if (!out.empty()) out += '/';
  out += group.rpath();
  if (kind != LockKind::kGroup) out += "/" + time;
  return out;
}

std::string LockObject::describe() const {
  std::string out = store + ":";
  if (!ns.is_root()) out += ns.join('/') + ":";
  out += rpath();
  return out;
}

}  // namespace pbs
