// The FUSE low-level operations of pbs-lockfs, one function each. Each gets its request as a
// Request, which answers once (the operation barrier in operations.cpp owns it: what an
// operation leaves unanswered, or an exception, is answered EIO). Helpers never answer.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "caller.hpp"
#include "node.hpp"
#include "request.hpp"

namespace pbs::fs {

/// The node of `ino`; nothing when the kernel asked for one it should have forgotten (the
/// caller answers ESTALE).
std::optional<Node> node_of(const Request& req, fuse_ino_t ino);
/// Whether `allowed`; logs the refusal of `what` on `target` to `caller` when not (the caller
/// answers EACCES).
bool permitted(bool allowed, const Caller& caller, const char* what, const std::string& target);

void op_init(void* userdata, fuse_conn_info* conn);
void op_lookup(Request& req, fuse_ino_t parent, const char* name);
void op_forget(Request& req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(Request& req, size_t count, fuse_forget_data* forgets);
void op_getattr(Request& req, fuse_ino_t ino, fuse_file_info* fi);
void op_setattr(Request& req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
void op_opendir(Request& req, fuse_ino_t ino, fuse_file_info* fi);
/// Frees the directory handles still open when the session ends (no RELEASEDIR will come).
void release_open_directories();
/// The open directories' listings, for the next program image (program_state.hpp).
struct SavedDirectories {
  std::vector<std::pair<std::uint64_t, std::vector<std::pair<std::string, Node>>>> open;
  std::uint64_t next = 1;  ///< the next directory handle
};
SavedDirectories save_open_directories();
/// Takes over what save_open_directories() returned in the previous image.
void restore_open_directories(SavedDirectories saved);
void op_readdir(Request& req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
void op_readdirplus(Request& req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
void op_releasedir(Request& req, fuse_ino_t ino, fuse_file_info* fi);
void op_statfs(Request& req, fuse_ino_t ino);
void op_open(Request& req, fuse_ino_t ino, fuse_file_info* fi);
void op_release(Request& req, fuse_ino_t ino, fuse_file_info* fi);
void op_flush(Request& req, fuse_ino_t ino, fuse_file_info* fi);
void op_read(Request& req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
void op_lseek(Request& req, fuse_ino_t ino, off_t offset, int whence, fuse_file_info* fi);
void op_write(Request& req, fuse_ino_t ino, const char* buf, size_t size, off_t offset,
              fuse_file_info* fi);
void op_flock(Request& req, fuse_ino_t ino, fuse_file_info* fi, int op);
void op_poll(Request& req, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph);
void op_getlk(Request& req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock);
void op_setlk(Request& req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep);
void op_unlink(Request& req, fuse_ino_t parent, const char* name);
void op_rmdir(Request& req, fuse_ino_t parent, const char* name);
void op_create(Request& req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
void op_mkdir(Request& req, fuse_ino_t parent, const char* name, mode_t mode);
void op_mknod(Request& req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void op_symlink(Request& req, const char* link, fuse_ino_t parent, const char* name);
void op_link(Request& req, fuse_ino_t ino, fuse_ino_t parent, const char* name);
void op_rename(Request& req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags);
void op_setxattr(Request& req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags);
void op_getxattr(Request& req, fuse_ino_t ino, const char* name, size_t size);
void op_listxattr(Request& req, fuse_ino_t ino, size_t size);
void op_removexattr(Request& req, fuse_ino_t ino, const char* name);

}  // namespace pbs::fs
