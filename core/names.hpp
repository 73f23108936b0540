// PBS's naming rules for datastores, namespaces, backup types, group ids and snapshot times
// (the regular expressions and limits of PBS's pbs-api-types), as validating parsers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "result.hpp"

namespace pbs {

/// Deepest namespace PBS allows: `a/b/c/d/e/f/g`.
inline constexpr std::size_t kMaxNamespaceDepth = 7;
/// Longest namespace, components joined with `/`.
inline constexpr std::size_t kMaxNamespaceLength = 256;
/// Longest single namespace component.
inline constexpr std::size_t kMaxNamespaceComponentLength = 255;
inline constexpr std::size_t kMinStoreNameLength = 3;
inline constexpr std::size_t kMaxStoreNameLength = 32;

/// `vm`, `ct` or `host`.
enum class BackupType { kVm, kCt, kHost };
inline constexpr BackupType kAllBackupTypes[] = {BackupType::kVm, BackupType::kCt,
                                                 BackupType::kHost};

std::string_view to_string(BackupType type);
Result<BackupType> parse_backup_type(std::string_view text);

/// `[A-Za-z0-9_][A-Za-z0-9._-]*`: PBS's "safe id", used by stores, namespaces and group ids.
bool is_safe_id(std::string_view text);

/// A datastore name: a safe id of 3 to 32 bytes, e.g. `store1`.
Result<void> check_store_name(std::string_view name);
/// One namespace component: a safe id of at most 255 bytes, e.g. `prod`.
Result<void> check_namespace_component(std::string_view name);
/// A group id: a safe id of any length, e.g. `100` or `my.host`.
Result<void> check_group_id(std::string_view id);
/// A snapshot time, RFC 3339 UTC with seconds: `2024-01-01T00:00:00Z`; the date must exist.
Result<void> check_snapshot_time(std::string_view time);

/// A backup namespace: zero (the root namespace) to seven components, e.g. `prod/site-a`.
class Namespace {
 public:
  Namespace() = default;
  /// Parses `a/b/c` (empty text: the root namespace); `/a`, `a/` and `a//b` are refused, as PBS
  /// refuses them.
  static Result<Namespace> parse(std::string_view text);
  /// This namespace with one more component, checking depth and length.
  Result<Namespace> child(std::string_view component) const;

  const std::vector<std::string>& components() const { return components_; }
  std::size_t depth() const { return components_.size(); }
  bool is_root() const { return components_.empty(); }
  /// The components joined with `separator`: `a/b` with '/', `a:b` with ':' (lock tree).
  std::string join(char separator) const;
  /// Where the namespace lives inside a datastore: `ns/a/ns/b` (empty for the root).
  std::string datastore_path() const;

  bool operator==(const Namespace&) const = default;

 private:
  std::vector<std::string> components_;
};

/// A backup group, e.g. `vm/100`.
struct BackupGroup {
  BackupType type = BackupType::kVm;
  std::string id;

  /// Parses `vm/100`.
  static Result<BackupGroup> parse(std::string_view text);
  /// `vm/100`.
  std::string rpath() const;
  bool operator==(const BackupGroup&) const = default;
};

/// A snapshot of a group, e.g. `vm/100/2024-01-01T00:00:00Z`.
struct BackupSnapshot {
  BackupGroup group;
  std::string time;

  /// `vm/100/2024-01-01T00:00:00Z`.
  std::string rpath() const;
  bool operator==(const BackupSnapshot&) const = default;
};

}  // namespace pbs
