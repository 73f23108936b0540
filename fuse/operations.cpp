// The table of FUSE operations, and init (the capabilities we ask the kernel for).
#include <spdlog/spdlog.h>

#include "filesystem.hpp"
#include "operation_barrier.hpp"
#include "ops.hpp"

namespace pbs::fs {

namespace {
constexpr unsigned kMaxBackground = 1024;
}  // namespace

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
  // RELEASE is a background request: the kernel sends at most max_background of them at once
  // (12 by default) and queues the rest. A client's next open of a lock it just closed waits
  // for that RELEASE, so with many client threads the default queue made most opens wait
  // (64 threads: 84 % of opens). Every RELEASE in flight costs us nothing but a queued request.
  conn->max_background = kMaxBackground;
  conn->congestion_threshold = kMaxBackground * 3 / 4;
}

fuse_lowlevel_ops filesystem_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = Guarded<"lookup", op_lookup>::call;
  ops.forget = Guarded<"forget", op_forget, false>::call;
  ops.forget_multi = Guarded<"forget_multi", op_forget_multi, false>::call;
  ops.getattr = Guarded<"getattr", op_getattr>::call;
  ops.setattr = Guarded<"setattr", op_setattr>::call;
  ops.opendir = Guarded<"opendir", op_opendir>::call;
  ops.readdir = Guarded<"readdir", op_readdir>::call;
  ops.readdirplus = Guarded<"readdirplus", op_readdirplus>::call;
  ops.releasedir = Guarded<"releasedir", op_releasedir>::call;
  ops.statfs = Guarded<"statfs", op_statfs>::call;
  ops.open = Guarded<"open", op_open>::call;
  ops.release = Guarded<"release", op_release>::call;
  ops.flush = Guarded<"flush", op_flush>::call;
  ops.read = Guarded<"read", op_read>::call;
  ops.lseek = Guarded<"lseek", op_lseek>::call;
  ops.write = Guarded<"write", op_write>::call;
  ops.flock = Guarded<"flock", op_flock>::call;
  ops.poll = Guarded<"poll", op_poll>::call;
  ops.getlk = Guarded<"getlk", op_getlk>::call;
  ops.setlk = Guarded<"setlk", op_setlk>::call;
  ops.unlink = Guarded<"unlink", op_unlink>::call;
  ops.rmdir = Guarded<"rmdir", op_rmdir>::call;
  ops.create = Guarded<"create", op_create>::call;
  ops.mkdir = Guarded<"mkdir", op_mkdir>::call;
  ops.mknod = Guarded<"mknod", op_mknod>::call;
  ops.symlink = Guarded<"symlink", op_symlink>::call;
  ops.link = Guarded<"link", op_link>::call;
  ops.rename = Guarded<"rename", op_rename>::call;
  ops.setxattr = Guarded<"setxattr", op_setxattr>::call;
  ops.getxattr = Guarded<"getxattr", op_getxattr>::call;
  ops.listxattr = Guarded<"listxattr", op_listxattr>::call;
  ops.removexattr = Guarded<"removexattr", op_removexattr>::call;
  return ops;
}

}  // namespace pbs::fs
