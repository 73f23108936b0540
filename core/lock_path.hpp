// LockPath: where PBS keeps the lock file of an object, below the lock root.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "names.hpp"

namespace pbs {

/// Escaped names of this many bytes or more go to `hashed/` in shortened form.
inline constexpr std::size_t kMaxPlainLockNameLength = 254;

/// `<store>/[<ns a:b>/][hashed/]<name>` below the lock root.
/// Example: store `store1`, namespace `a/b`, rpath `vm/100` -> `store1/a:b/vm-100`.
struct LockPath {
  std::string store;
  std::string ns_dir;  ///< namespace components joined with ':'; empty for the root namespace
  bool hashed = false;
  std::string name;  ///< the file name itself

  /// The directories from the lock root down to the file: {store, [ns_dir], ["hashed"]}.
  std::vector<std::string> directories() const;
  /// The same joined: `store1/a:b` (the lock directory below the lock root).
  std::string directory() const;
  /// `store1/a:b/vm-100`.
  std::string relative() const;
  bool operator==(const LockPath&) const = default;
};

/// PBS's rule: escape `rpath`; a result of 255 bytes or more becomes
/// `hashed/<first 80>...<last 80>-<sha256(rpath)>`.
LockPath make_lock_path(std::string_view store, const Namespace& ns, std::string_view rpath);

}  // namespace pbs
