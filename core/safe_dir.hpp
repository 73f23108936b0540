// Directory access that never follows a symlink: opening below a directory descriptor with
// openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), creating directories one component at a time,
// and listing entries with their real types.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "owner.hpp"
#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs {

/// Opens `relative` (a path like `a/b/c`, no symlink anywhere, never above `dirfd`) with `flags`.
/// An empty `relative` opens `dirfd` itself again. A symlink on the way fails with ELOOP.
Result<UniqueFd> open_beneath(int dirfd, std::string_view relative, int flags);

/// open_beneath() without openat2, one component at a time (each opened O_NOFOLLOW, `..` and
/// absolute paths refused with EXDEV): what open_beneath() falls back to when openat2 is not
/// available (ENOSYS: kernels before 5.6, or a seccomp filter such as systemd's
/// RestrictSUIDSGID=).
Result<UniqueFd> open_beneath_by_components(int dirfd, const std::string& path, int flags);

/// Opens the directory `dirs[0]/dirs[1]/…` below `dirfd`, creating each missing one with mode
/// 0755 owned by `owner` (as PBS's daemon user would). A symlink in the way fails with ELOOP.
/// For *at() calls only: the descriptor may be O_PATH (it is when nothing had to be created).
Result<UniqueFd> open_or_create_directories(int dirfd, const std::vector<std::string>& dirs,
                                            const Owner& owner);

struct DirEntry {
  std::string name;
  mode_t type = 0;  ///< S_IFDIR, S_IFREG, S_IFLNK, …: from d_type, or lstat where it is unknown
};

/// Reads all entries of the directory `dirfd` (except `.` and `..`) without following anything.
Result<std::vector<DirEntry>> read_directory(int dirfd);

}  // namespace pbs
