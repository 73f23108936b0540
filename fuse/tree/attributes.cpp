// What `stat` and `ls -l` show for a node. Lock nodes show live lock state in their mode:
// -rw-rw---- free, -r--r----- shared, --w--w---- exclusive (information, not access control).
#include "attributes.hpp"

namespace pbs::fs {
namespace {
constexpr uid_t kUnknownUid = 65534;
}  // namespace

double attribute_timeout(const MountModel& fs, const Node& node) {
  if (node.is_lock()) return fs.options.attr_timeout;
  return node.is_control_file() ? 0 : 60;
}

struct stat node_attributes(MountModel& fs, const Node& node, std::uint64_t ino,
                            ListingLookups* listing) {
  // Before the state is read: a lock change from now on invalidates what we hand out (the
  // kernel ignores a reply older than the invalidation).
  if (node.is_lock()) fs.inodes.attributes_given(ino);
  struct stat st {};
  st.st_ino = ino;
  st.st_uid = fs.owner.uid;
  st.st_gid = fs.owner.gid;
  auto started = std::chrono::system_clock::to_time_t(fs.started);
  st.st_mtime = st.st_ctime = st.st_atime = started;
  st.st_blksize = 4096;
  if (node.is_directory()) {
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
    return st;
  }
  st.st_nlink = 1;
  if (node.is_control_file()) {
    st.st_mode = S_IFREG | 0444;
    return st;
  }
  NodeLockState state = node_lock_state(fs, node, true, listing);
  mode_t mode = 0660;
  if (!state.holders.empty()) {
    const Holder& first = state.holders.front();
    mode = first.mode == LockMode::kExclusive ? 0220 : 0440;
    // An unknown user (a holder of another user whose taker exited) shows as the kernel's
    // overflow uid, `nobody`: not as backup, which would suggest PBS.
    st.st_uid = first.uid != static_cast<uid_t>(-1) ? first.uid : kUnknownUid;
    st.st_mtime = std::chrono::system_clock::to_time_t(first.since);
  }
  st.st_mode = S_IFREG | mode;
  st.st_size = static_cast<off_t>(state.holders.size());
  return st;
}

}  // namespace pbs::fs
