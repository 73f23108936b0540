// The mount table of this process (/proc/self/mountinfo), read without touching any mount (a
// stat() of a FUSE mountpoint would ask its daemon, which may be dead or not serving yet).
#pragma once

#include <string>
#include <vector>

namespace pbs {

struct MountEntry {
  std::string device;      ///< "major:minor"
  std::string mountpoint;  ///< unescaped
  std::string fstype;      ///< e.g. "fuse.pbs-lockfs"
};

std::vector<MountEntry> read_mount_table();

}  // namespace pbs
