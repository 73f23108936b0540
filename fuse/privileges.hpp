// Dropping root once mounted: the daemon serves as `backup` with no capabilities.
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <string>

#include "result.hpp"

namespace pbs::fs {

/// The uid of `user`, checked before mounting: nothing is mounted for a bad option.
Result<uid_t> check_user(const std::string& user);

/// Switches to `user` and its primary group with no supplementary groups and no capabilities
/// (a no-op for "root"). Checks that root cannot be regained.
Result<void> drop_privileges(const std::string& user);

/// Keeps only the capabilities `keep` (CAP_*), effective and permitted, for the rest of this
/// process's life: the root monitor keeps what unmounting and signalling the daemon need.
Result<void> keep_only_capabilities(std::initializer_list<int> keep);

/// Raises the soft limit on open files to the hard limit: every held lock is a descriptor.
void raise_file_limit();

}  // namespace pbs::fs
