// LockObject: the thing a PBS lock protects (a group, a snapshot or a snapshot's manifest).
#pragma once

#include <string>

#include "lock_path.hpp"
#include "names.hpp"

namespace pbs {

enum class LockKind { kGroup, kSnapshot, kManifest };
/// "group", "snapshot" or "manifest".
std::string_view to_string(LockKind kind);

/// A lockable object of a datastore. Example: the manifest of `vm/100/2024-01-01T00:00:00Z`
/// in namespace `prod` of `store1` has rpath `vm/100/2024-01-01T00:00:00Z/.index.json.lck`.
struct LockObject {
  std::string store;
  Namespace ns;
  LockKind kind = LockKind::kGroup;
  BackupGroup group;
  std::string time;  ///< empty for a group

  static LockObject group_lock(std::string store, Namespace ns, BackupGroup group);
  static LockObject snapshot_lock(std::string store, Namespace ns, BackupSnapshot snapshot);
  static LockObject manifest_lock(std::string store, Namespace ns, BackupSnapshot snapshot);
  /// Parses `TYPE/ID` (a group) or `TYPE/ID/TIME` (a snapshot, or its manifest when
  /// `manifest`), checking every name: ("store1", ns, "vm/100/2024-01-01T00:00:00Z", false).
  static Result<LockObject> parse(std::string_view store, Namespace ns, std::string_view object,
                                  bool manifest);

  BackupSnapshot snapshot() const { return {group, time}; }
  /// The path PBS escapes: `vm/100`, `vm/100/<time>` or `vm/100/<time>/.index.json.lck`.
  std::string rpath() const;
  LockPath lock_path() const { return make_lock_path(store, ns, rpath()); }
  /// The object's directory relative to the datastore base, `ns/prod/vm/100[/<time>]`
  /// (a manifest's is its snapshot's): what old-style locking flocks.
  std::string datastore_dir() const;
  /// For log lines: `store1:prod:vm/100/2024-01-01T00:00:00Z`.
  std::string describe() const;

  bool operator==(const LockObject&) const = default;
};

}  // namespace pbs
