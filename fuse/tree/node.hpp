// Node: one entry of the mounted tree, named by what it stands for in PBS terms.
//
//   /                                   kRoot
//   /store1                             kStore          (the root namespace)
//   /store1/ns                          kNamespaceList
//   /store1/ns/prod                     kNamespace
//   /store1/ns/prod/vm                  kType
//   /store1/ns/prod/vm/100              kGroup
//   /store1/ns/prod/vm/100/.lock        kGroupLock
//   /store1/ns/prod/vm/100/<time>       kSnapshot
//   /store1/ns/prod/vm/100/.<time>.manifest  kManifest
#pragma once

#include <string>
#include <string_view>

#include "lock_object.hpp"
#include "names.hpp"

namespace pbs::fs {

enum class NodeKind {
  kRoot,
  kStore,
  kNamespaceList,
  kNamespace,
  kType,
  kGroup,
  kGroupLock,
  kSnapshot,
  kManifest,
  kStatusFile,
  kEventsFile,
  kMetricsFile,
};

/// The file at the mount root that takes no lock (version and counters; the FUSE floor).
inline constexpr std::string_view kStatusFileName = ".pbs-lockfs";
/// The file at the mount root with the history of lock events, one JSON object per line.
inline constexpr std::string_view kEventsFileName = ".pbs-lockfs-events";
/// The file at the mount root with the lock metrics in Prometheus's text format.
inline constexpr std::string_view kMetricsFileName = ".pbs-lockfs-metrics";

struct Node {
  NodeKind kind = NodeKind::kRoot;
  std::string store;
  Namespace ns;
  BackupType type = BackupType::kVm;
  std::string id;
  std::string time;

  bool is_directory() const;
  /// Group lock, snapshot or manifest: a node whose open takes a lock.
  bool is_lock() const;
  /// A file of the mount root that takes no lock: the status, events or metrics file.
  bool is_control_file() const {
    return kind == NodeKind::kStatusFile || kind == NodeKind::kEventsFile ||
           kind == NodeKind::kMetricsFile;
  }
  /// A control file whose text is taken once at open (read by those who may list).
  bool is_snapshot_file() const {
    return kind == NodeKind::kEventsFile || kind == NodeKind::kMetricsFile;
  }
  /// A directory whose children are named after the namespace's contents (store or namespace).
  bool is_namespace_root() const {
    return kind == NodeKind::kStore || kind == NodeKind::kNamespace;
  }
  /// For lock nodes: the object it locks.
  LockObject lock_object() const;
  BackupGroup group() const { return {type, id}; }
  /// The path below the mountpoint, unique per node: `store1/ns/prod/vm/100/.lock`.
  std::string mount_path() const;
};

}  // namespace pbs::fs
