// The table of FUSE operations, and init (the capabilities we ask the kernel for).
#include <spdlog/spdlog.h>

#include "filesystem.hpp"
#include "ops.hpp"

namespace pbs::fs {

void op_init(void*, fuse_conn_info* conn) {
  // flock(2) on nodes reaches us (LOCK_SH/EX/UN convert and release the real lock).
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) {
    conn->want |= FUSE_CAP_FLOCK_LOCKS;
  } else {
    spdlog::warn("kernel cannot forward flock(2): flock on nodes stays local");
  }
  // POSIX locks reach us so that we can refuse them (op_setlk): granted locally, they would
  // lock nothing that PBS sees.
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) {
    conn->want |= FUSE_CAP_POSIX_LOCKS;
  } else {
    spdlog::warn("kernel cannot forward POSIX locks: fcntl/lockf on nodes stay local");
  }
  // O_TRUNC arrives with the open instead of as a separate truncate.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // Listings come with attributes (ls -l in one pass), always, not by the kernel's guess.
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

fuse_lowlevel_ops filesystem_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.readdirplus = op_readdirplus;
  ops.releasedir = op_releasedir;
  ops.statfs = op_statfs;
  ops.open = op_open;
  ops.release = op_release;
  ops.flush = op_flush;
  ops.read = op_read;
  ops.lseek = op_lseek;
  ops.write = op_write;
  ops.flock = op_flock;
  ops.getlk = op_getlk;
  ops.setlk = op_setlk;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.create = op_create;
  ops.mkdir = op_mkdir;
  ops.mknod = op_mknod;
  ops.symlink = op_symlink;
  ops.link = op_link;
  ops.rename = op_rename;
  ops.setxattr = op_setxattr;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  ops.removexattr = op_removexattr;
  return ops;
}

}  // namespace pbs::fs
