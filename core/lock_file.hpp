// PBS's lock-file protocol, steps 2 and 4: open (creating beside and renaming into place) and
// the double-stat check that detects a file removed or replaced after it was opened.
#pragma once

#include <sys/stat.h>

#include <string>

#include "owner.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

/// Opens the lock file `name` in directory `dirfd` (`O_RDWR|O_APPEND`, never through a symlink).
/// A missing file is created as PBS does when `create`: a temporary file beside it, mode 0660,
/// owned by `owner`, renamed into place with RENAME_NOREPLACE (losing that race opens the winner).
/// ENOENT when missing and not `create`; ELOOP for a symlink; EINVAL for a non-regular file.
/// `opened`: where the open file's stat goes (the protocol needs it, so it is not asked twice).
Result<UniqueFd> open_lock_file(int dirfd, const std::string& name, const Owner& owner,
                                bool create = true, struct stat* opened = nullptr);

/// The double-stat: true while `name` in `dirfd` is still the file that `fd` has open.
bool lock_file_still_at_path(int fd, int dirfd, const std::string& name);
/// PBS's own double-stat: true while the absolute `path` (walked from `/` as PBS walks it) is
/// the file that `fd` has open. Unlike the check relative to a directory descriptor, this also
/// fails when a directory above the file (the lock root itself) was renamed or replaced.
bool lock_file_at_path(int fd, const std::string& path);
/// The same for the file with `device` and `inode` (known from its open): one `stat`.
bool lock_file_at_path(dev_t device, ino_t inode, const std::string& path);

/// True for names in a lock directory that are temporary files of the create protocol: ours
/// (`.tmp_<hex>`) and PBS's (`<name>.tmp_XXXXXX`, e.g. `vm-200.tmp_Ab12Cd`). Such a file is in
/// flight (about to be renamed into place) or left by a crash: never a node, never unlinked.
bool is_temporary_lock_name(const std::string& name);

}  // namespace pbs
