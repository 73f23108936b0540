// MountIdentity: which mount is at a mountpoint, in a way that never names a later mount. The
// device number of a FUSE mount and the classic mount ID are both reused by the kernel as soon
// as a mount is gone (an `umount M; pbs-lockfs … M` gets them back at once), so an old monitor
// that compared them could unmount its successor. Kernels since 6.8 give every mount a 64-bit ID
// that is never reused (STATX_MNT_ID_UNIQUE); older ones get the best the kernel offers (mount ID
// and device together), which the README states.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pbs {

struct MountIdentity {
  std::uint64_t mount_id = 0;
  bool unique = false;  ///< mount_id is STATX_MNT_ID_UNIQUE (never reused)
  std::string device;   ///< "major:minor" from mountinfo

  bool operator==(const MountIdentity&) const = default;
};

/// The identity of the mount at `mountpoint`, read without asking the filesystem anything (no
/// FUSE request: it works on a dead or not yet serving FUSE mount). Nothing when `mountpoint`
/// is not a mountpoint or cannot be read.
std::optional<MountIdentity> mount_identity(const std::string& mountpoint);

/// The filesystem type ("fuse.pbs-lockfs") of the topmost mount at `mountpoint`, from
/// /proc/self/mountinfo; empty when nothing is mounted there.
std::string mounted_type(const std::string& mountpoint);

}  // namespace pbs
