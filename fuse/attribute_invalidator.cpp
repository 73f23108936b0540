// The attribute invalidator; see attribute_invalidator.hpp.
#include "attribute_invalidator.hpp"

#include "mount_names.hpp"

namespace pbs::fs {

void AttributeInvalidator::changed(const LockObject& object) {
  if (session_ == nullptr) return;
  if (auto ino = inodes_.take_cached_attributes(mount_path(object)))
    fuse_lowlevel_notify_inval_inode(session_, *ino, -1, 0);
}

}  // namespace pbs::fs
