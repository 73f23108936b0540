// Mount identities; see mount_identity.hpp.
#include "mount_identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "mount_table.hpp"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

namespace pbs {
namespace {

// The topmost mount at `mountpoint` in /proc/self/mountinfo (later lines stack on earlier ones).
std::optional<MountEntry> topmost(const std::string& mountpoint) {
  std::optional<MountEntry> top;
  for (auto& entry : read_mount_table()) {
    if (entry.mountpoint == mountpoint) top = std::move(entry);
  }
  return top;
}

}  // namespace

std::optional<MountIdentity> mount_identity(const std::string& mountpoint) {
  auto entry = topmost(mountpoint);
  if (!entry) return std::nullopt;
  // AT_STATX_DONT_SYNC with no basic field asked: FUSE answers from its inode, sends nothing.
  struct statx stx {};
  if (statx(AT_FDCWD, mountpoint.c_str(),
            AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW,
            STATX_MNT_ID | STATX_MNT_ID_UNIQUE, &stx) != 0) {
    return std::nullopt;
  }
  if (!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) return std::nullopt;
  MountIdentity id;
  id.device = entry->device;
  id.unique = (stx.stx_mask & STATX_MNT_ID_UNIQUE) != 0;
  if (!id.unique && !(stx.stx_mask & STATX_MNT_ID)) return std::nullopt;
  id.mount_id = stx.stx_mnt_id;
  return id;
}

std::string mounted_type(const std::string& mountpoint) {
  auto entry = topmost(mountpoint);
  return entry ? entry->fstype : std::string();
}

}  // namespace pbs
