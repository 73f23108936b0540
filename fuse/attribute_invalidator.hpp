// AttributeInvalidator: a lock taken or let go through the mount makes the kernel forget the
// node's cached attributes at once (fuse_lowlevel_notify_inval_inode), so that the next `stat` or
// `ls -l` shows it, while unchanged nodes stay cached for attr_timeout.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "inode_table.hpp"
#include "lock_manager.hpp"

namespace pbs::fs {

class AttributeInvalidator : public LockChangeListener {
 public:
  AttributeInvalidator(InodeTable& inodes, fuse_session*& session)
      : inodes_(inodes), session_(session) {}
  /// Only nodes whose attributes the kernel may hold (given out since the last invalidation).
  void changed(const LockObject& object) override;

 private:
  InodeTable& inodes_;
  fuse_session*& session_;  ///< set once the session exists
};

}  // namespace pbs::fs
