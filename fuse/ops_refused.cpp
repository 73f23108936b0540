// Operations the mount never allows: it creates no datastore objects and changes nothing but
// lock files. Each answers with a clear errno and a log line.
#include <spdlog/spdlog.h>

#include <fcntl.h>

#include <cstring>

#include "filesystem.hpp"
#include "ops.hpp"

namespace pbs::fs {
namespace {

void refuse(Request& req, const char* what, const std::string& target, int error) {
  spdlog::info("refused {} {} to {}: {}", what, target, Caller::of(req).describe(),
               error == EPERM ? "EPERM" : error_text(error));
  req.error(error);
}

std::string child_key(const Request& req, fuse_ino_t parent, const char* name) {
  auto dir = Filesystem::of(req).inodes.find(parent);
  return (dir ? dir->mount_path() : std::string("?")) + "/" + name;
}

}  // namespace

void op_create(Request& req, fuse_ino_t parent, const char* name, mode_t, fuse_file_info*) {
  refuse(req, "create", child_key(req, parent, name), EPERM);
}

void op_mkdir(Request& req, fuse_ino_t parent, const char* name, mode_t) {
  refuse(req, "mkdir", child_key(req, parent, name), EPERM);
}

void op_mknod(Request& req, fuse_ino_t parent, const char* name, mode_t, dev_t) {
  refuse(req, "mknod", child_key(req, parent, name), EPERM);
}

void op_symlink(Request& req, const char*, fuse_ino_t parent, const char* name) {
  refuse(req, "symlink", child_key(req, parent, name), EPERM);
}

void op_link(Request& req, fuse_ino_t, fuse_ino_t parent, const char* name) {
  refuse(req, "link", child_key(req, parent, name), EPERM);
}

void op_rename(Request& req, fuse_ino_t parent, const char* name, fuse_ino_t, const char*,
               unsigned int) {
  refuse(req, "rename", child_key(req, parent, name), EPERM);
}

void op_setxattr(Request& req, fuse_ino_t ino, const char* name, const char*, size_t, int) {
  auto node = Filesystem::of(req).inodes.find(ino);
  refuse(req, "setxattr", (node ? node->mount_path() : "?") + " " + name, EPERM);
}

void op_removexattr(Request& req, fuse_ino_t ino, const char* name) {
  auto node = Filesystem::of(req).inodes.find(ino);
  refuse(req, "removexattr", (node ? node->mount_path() : "?") + " " + name, EPERM);
}

// POSIX record locks (fcntl F_SETLK/F_GETLK, lockf) are not PBS's locks and never conflict with
// them: granted locally by the kernel they would lock nothing. They are refused so that a
// program using them (Python's fcntl.lockf, lckdo) fails loudly instead of running unprotected.
void op_getlk(Request& req, fuse_ino_t ino, fuse_file_info*, struct flock*) {
  auto node = Filesystem::of(req).inodes.find(ino);
  refuse(req, "POSIX lock test (use flock(2))", node ? node->mount_path() : std::string("?"),
         ENOLCK);
}

void op_setlk(Request& req, fuse_ino_t ino, fuse_file_info*, struct flock* lock, int) {
  if (lock->l_type == F_UNLCK) return req.error(0);  // nothing was ever granted
  auto node = Filesystem::of(req).inodes.find(ino);
  refuse(req, "POSIX lock (use flock(2))", node ? node->mount_path() : std::string("?"), ENOLCK);
}

}  // namespace pbs::fs
