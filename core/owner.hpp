// Owner: the uid and gid that lock files and directories are created with (PBS's backup:backup).
#pragma once

#include <sys/types.h>

#include <string>

#include "result.hpp"

namespace pbs {

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;

  /// Looks up a user and a group by name, e.g. ("backup", "backup").
  static Result<Owner> lookup(const std::string& user, const std::string& group);
};

/// Looks up a group id by name.
Result<gid_t> lookup_group(const std::string& group);

}  // namespace pbs
