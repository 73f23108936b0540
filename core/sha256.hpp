// SHA-256 through OpenSSL, as lowercase hex (used by the `hashed/` lock-name form).
#pragma once

#include <string>
#include <string_view>

namespace pbs {

/// Lowercase hex SHA-256 of `data`, 64 characters.
std::string sha256_hex(std::string_view data);

}  // namespace pbs
