// The mounted tree's contents; see mount_tree.hpp.
#include "mount_tree.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "lock_directory.hpp"
#include "mount_names.hpp"

namespace pbs::fs {

namespace {

Node with_kind(const Node& from, NodeKind kind) {
  Node out = from;
  out.kind = kind;
  return out;
}

bool same_group(const LockObject& o, const Node& n) {
  return o.group == n.group();
}

}  // namespace

std::string MountTree::datastore_path(const std::string& store) {
  auto found = stores_.find(store);
  return found ? found->path() : std::string();
}

Result<std::vector<LockObject>> MountTree::locked_objects(const Node& dir) {
  // A lock root renamed or removed under us: list the one PBS uses now (checked at most every
  // 100 ms; a lock attempt checks every time its file is not where PBS would look).
  root_.refresh(std::chrono::milliseconds(100));
  auto listed = lock_files_.list(root_, dir.store, dir.ns);
  if (!listed) return listed.error();
  // Only what `dir` shows is copied: a group of a namespace with thousands of lock files (or
  // holds) costs a pass over them, not a copy of each.
  MountLocks::ObjectFilter keep = [&](const LockObject& o) {
    switch (dir.kind) {
      case NodeKind::kType:
        return o.group.type == dir.type;
      case NodeKind::kGroup:
        return same_group(o, dir);
      default:
        return true;
    }
  };
  std::vector<LockObject> out;
  for (const auto& o : **listed) {
    if (keep(o)) out.push_back(o);
  }
  auto held = held_.held_in(dir.store, dir.ns, keep);
  out.insert(out.end(), held.begin(), held.end());
  return out;
}

std::vector<std::string> MountTree::child_namespaces(const Node& ns_root) {
  std::set<std::string> names;
  if (auto store = stores_.find(ns_root.store)) {
    if (auto on_disk = store->child_namespaces(ns_root.ns))
      names.insert(on_disk->begin(), on_disk->end());
  }
  if (auto in_locks = list_lock_child_namespaces(root_, ns_root.store, ns_root.ns)) {
    names.insert(in_locks->begin(), in_locks->end());
  }
  return {names.begin(), names.end()};
}

Result<bool> MountTree::exists(const Node& node) {
  if (node.kind == NodeKind::kRoot || node.is_control_file()) return true;
  auto store = stores_.find(node.store);
  if (!store) return false;
  Node ns_root = with_kind(node, node.ns.is_root() ? NodeKind::kStore : NodeKind::kNamespace);
  switch (node.kind) {
    case NodeKind::kStore:
      return true;
    case NodeKind::kNamespaceList:
      return !child_namespaces(ns_root).empty();
    case NodeKind::kNamespace: {
      auto on_disk = store->has_directory(node.ns.datastore_path());
      if (!on_disk) return on_disk.error();
      return *on_disk || lock_namespace_exists(root_, node.store, node.ns);
    }
    default:
      break;
  }
  std::string type_dir =
      Datastore::join(node.ns.datastore_path(), std::string(to_string(node.type)));
  std::string group_dir = type_dir + "/" + node.id;
  if (node.is_lock()) {
    LockObject object = node.lock_object();
    std::string dir = node.kind == NodeKind::kGroupLock ? group_dir : group_dir + "/" + node.time;
    auto on_disk = store->has_directory(dir);
    if (!on_disk) return on_disk.error();
    if (*on_disk) return true;
    auto lock_file = lock_file_exists(root_, object);
    if (!lock_file) return lock_file.error();
    if (*lock_file) return true;
    return !held_.held_in(node.store, node.ns, [&](const LockObject& o) { return o == object; })
                .empty();
  }
  auto on_disk = store->has_directory(node.kind == NodeKind::kType ? type_dir : group_dir);
  if (!on_disk) return on_disk.error();
  if (*on_disk) return true;
  auto known = locked_objects(node);  // the type's or the group's
  if (!known) return known.error();
  return !known->empty();
}

Result<Node> MountTree::child(const Node& parent, std::string_view name) {
  Node node = parent;
  bool valid = false;
  switch (parent.kind) {
    case NodeKind::kRoot:
      if (name == kStatusFileName || name == kEventsFileName || name == kMetricsFileName) {
        node.kind = name == kStatusFileName   ? NodeKind::kStatusFile
                    : name == kEventsFileName ? NodeKind::kEventsFile
                                              : NodeKind::kMetricsFile;
        valid = true;
      } else {
        node.kind = NodeKind::kStore;
        node.store = std::string(name);
        valid = check_store_name(name).ok();
      }
      break;
    case NodeKind::kStore:
    case NodeKind::kNamespace:
      if (name == kNamespaceListName) {
        node.kind = NodeKind::kNamespaceList;
        valid = node.ns.depth() < kMaxNamespaceDepth;
      } else if (auto type = parse_backup_type(name)) {
        node.kind = NodeKind::kType;
        node.type = *type;
        valid = true;
      }
      break;
    case NodeKind::kNamespaceList:
      if (auto child = parent.ns.child(name)) {
        node.kind = NodeKind::kNamespace;
        node.ns = std::move(child.value());
        valid = true;
      }
      break;
    case NodeKind::kType:
      node.kind = NodeKind::kGroup;
      node.id = std::string(name);
      valid = check_group_id(name).ok();
      break;
    case NodeKind::kGroup:
      if (name == kGroupLockName) {
        node.kind = NodeKind::kGroupLock;
        valid = true;
      } else if (auto time = manifest_node_time(name); !time.empty()) {
        node.kind = NodeKind::kManifest;
        node.time = std::string(time);
        valid = check_snapshot_time(time).ok();
      } else {
        node.kind = NodeKind::kSnapshot;
        node.time = std::string(name);
        valid = check_snapshot_time(name).ok();
      }
      break;
    default:
      return Error{ENOTDIR, "not a directory"};
  }
  if (!valid) return Error{ENOENT, "no such node"};
  auto found = exists(node);
  if (!found) return found.error();
  if (!*found) return Error{ENOENT, "no such node"};
  return node;
}

void MountTree::note_datastore_readable(const Datastore& store,
                                        const Result<std::vector<BackupType>>& read) {
  MutexLock lock(unreadable_mutex_);
  bool was_unreadable = unreadable_.count(store.name()) > 0;
  if (!read && !was_unreadable) {
    spdlog::warn("datastore {}: {}; until it is back only its lock files show", store.name(),
                 read.error().message);
    unreadable_.insert(store.name());
  } else if (read && was_unreadable) {
    spdlog::info("datastore {}: {} is readable again", store.name(), store.path());
    unreadable_.erase(store.name());
  }
}

Result<std::vector<std::pair<std::string, Node>>> MountTree::children(const Node& dir) {
  // A vector sorted once at the end: a group of 100,000 snapshots has 200,000 children, and a
  // map of them cost a third of an `ls -l`'s time in the daemon.
  std::vector<std::pair<std::string, Node>> out;
  auto add = [&](std::string name, NodeKind kind, auto&& fill) {
    Node node = with_kind(dir, kind);
    fill(node);
    out.emplace_back(std::move(name), std::move(node));
  };
  switch (dir.kind) {
    case NodeKind::kRoot: {
      add(std::string(kStatusFileName), NodeKind::kStatusFile, [](Node&) {});
      add(std::string(kEventsFileName), NodeKind::kEventsFile, [](Node&) {});
      add(std::string(kMetricsFileName), NodeKind::kMetricsFile, [](Node&) {});
      for (const auto& store : *stores_.current()) {
        add(store.name(), NodeKind::kStore, [&](Node& n) { n.store = store.name(); });
      }
      break;
    }
    case NodeKind::kStore:
    case NodeKind::kNamespace: {
      auto store = stores_.find(dir.store);
      if (!store) return Error{ENOENT, "datastore gone"};
      if (dir.ns.depth() < kMaxNamespaceDepth && !child_namespaces(dir).empty()) {
        add(std::string(kNamespaceListName), NodeKind::kNamespaceList, [](Node&) {});
      }
      std::set<BackupType> types;
      auto on_disk = store->types(dir.ns);
      if (!on_disk && is_resource_shortage(on_disk.error().code)) return on_disk.error();
      if (dir.kind == NodeKind::kStore) note_datastore_readable(*store, on_disk);
      if (on_disk) types.insert(on_disk->begin(), on_disk->end());
      auto locked = locked_objects(dir);
      if (!locked) return locked.error();
      for (const auto& o : *locked)
        types.insert(o.group.type);
      for (BackupType t : types)
        add(std::string(to_string(t)), NodeKind::kType, [&](Node& n) { n.type = t; });
      break;
    }
    case NodeKind::kNamespaceList:
      for (const auto& name : child_namespaces(dir)) {
        add(name, NodeKind::kNamespace, [&](Node& n) { n.ns = *dir.ns.child(name); });
      }
      break;
    case NodeKind::kType: {
      auto store = stores_.find(dir.store);
      if (!store) return Error{ENOENT, "datastore gone"};
      std::set<std::string> ids;
      auto on_disk = store->group_ids(dir.ns, dir.type);
      if (!on_disk && is_resource_shortage(on_disk.error().code)) return on_disk.error();
      if (on_disk) ids.insert(on_disk->begin(), on_disk->end());
      auto locked = locked_objects(dir);
      if (!locked) return locked.error();
      for (const auto& o : *locked) {
        if (o.group.type == dir.type) ids.insert(o.group.id);
      }
      for (const auto& id : ids)
        add(id, NodeKind::kGroup, [&](Node& n) { n.id = id; });
      break;
    }
    case NodeKind::kGroup: {
      auto store = stores_.find(dir.store);
      if (!store) return Error{ENOENT, "datastore gone"};
      add(std::string(kGroupLockName), NodeKind::kGroupLock, [](Node&) {});
      std::vector<std::string> snapshots, manifests;
      auto on_disk = store->snapshot_times(dir.ns, dir.group());
      if (!on_disk && is_resource_shortage(on_disk.error().code)) return on_disk.error();
      if (on_disk) manifests = snapshots = std::move(on_disk.value());
      auto locked = locked_objects(dir);
      if (!locked) return locked.error();
      for (const auto& o : *locked) {
        if (!same_group(o, dir)) continue;
        if (o.kind == LockKind::kSnapshot) snapshots.push_back(o.time);
        if (o.kind == LockKind::kManifest) manifests.push_back(o.time);
      }
      for (auto* times : {&snapshots, &manifests}) {
        std::sort(times->begin(), times->end());
        times->erase(std::unique(times->begin(), times->end()), times->end());
      }
      out.reserve(out.size() + snapshots.size() + manifests.size());
      for (auto& t : snapshots)
        add(t, NodeKind::kSnapshot, [&](Node& n) { n.time = std::move(t); });
      for (auto& t : manifests) {
        add(manifest_node_name(t), NodeKind::kManifest, [&](Node& n) { n.time = std::move(t); });
      }
      break;
    }
    default:
      return Error{ENOTDIR, "not a directory"};
  }
  // By name, each name once (a type or group both on disk and among the lock files is one).
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto& a, const auto& b) { return a.first == b.first; }),
            out.end());
  return out;
}

}  // namespace pbs::fs
