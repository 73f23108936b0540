// PBS's lock-name escaping (`escape_unit` in path mode), and its inverse for reading the lock tree.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pbs {

/// Escapes a relative path as PBS names lock files: leading `/` stripped (nothing left: `-`),
/// `/` -> `-`, `[A-Za-z0-9_.]` kept except a `.` at index 0, every other byte -> `\xNN`.
/// Example: `vm/100/2022-05-02T08:11:33Z` -> `vm-100-2022\x2d05\x2d02T08\x3a11\x3a33Z`.
std::string escape_lock_name(std::string_view rpath);

/// The inverse for names escape_lock_name can produce: `vm-100` -> `vm/100`.
/// Returns nothing for text that is not such a name (a stray byte, a bad `\x` sequence).
std::optional<std::string> unescape_lock_name(std::string_view name);

}  // namespace pbs
