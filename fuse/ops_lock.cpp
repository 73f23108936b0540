// FUSE operations on lock nodes: open takes the lock, release drops it, flock converts it,
// read shows the state, write stores the holder's reason, setattr only allows harmless changes.
#include <fcntl.h>
#include <sys/file.h>

#include <spdlog/spdlog.h>

#include "filesystem.hpp"
#include "ops.hpp"

namespace pbs::fs {
namespace {

// File handle 0 is the status file, which takes no lock.
OpenHandle* handle_of(const fuse_file_info* fi) {
  return reinterpret_cast<OpenHandle*>(fi->fh);
}

}  // namespace

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = Filesystem::of(req);
  auto node = node_of(req, ino);
  if (!node) return;
  if (node->is_directory()) return (void)fuse_reply_err(req, EISDIR);
  fi->direct_io = 1;  // every read reaches us: the status text is live
  fi->keep_cache = 0;
  fi->noflush = 1;  // no FLUSH round trip on close: we release on RELEASE
  const int access = fi->flags & O_ACCMODE;
  if (node->kind == NodeKind::kStatusFile) {
    if (access != O_RDONLY) return (void)fuse_reply_err(req, EACCES);
    fi->fh = 0;
    fuse_reply_open(req, fi);
    return;
  }
  Caller caller = Caller::of(req);
  if (refuse_unless(fs.access.may_lock(caller), req, caller, "lock", node->key())) return;
  auto exists = fs.tree->exists(*node);
  if (!exists)
    return (void)fuse_reply_err(req, fs.shortage.answer(exists.error(), "open of " + node->key()));
  if (!*exists) return (void)fuse_reply_err(req, ENOENT);

  auto handle = std::make_shared<OpenHandle>();
  handle->request.object = node->lock_object();
  handle->request.mode = access == O_RDONLY ? LockMode::kShared : LockMode::kExclusive;
  handle->request.datastore_path = fs.tree->datastore_path(node->store);
  handle->request.create = true;
  handle->key = handle->request.object.lock_path().relative();
  handle->opener = ProcessRef::of_thread(caller.pid);
  handle->uid = caller.uid;
  fs.locks->open(req, *fi, std::move(handle), fi->flags & O_NONBLOCK, fs.options.open_locks);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  if (auto* handle = handle_of(fi)) Filesystem::of(req).locks->release(handle);
  fuse_reply_err(req, 0);
}

void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  auto node = node_of(req, ino);
  if (!node) return;
  std::string text = node_status_text(Filesystem::of(req), *node);
  if (offset >= static_cast<off_t>(text.size())) return (void)fuse_reply_buf(req, nullptr, 0);
  size_t n = std::min(size, text.size() - static_cast<size_t>(offset));
  fuse_reply_buf(req, text.data() + offset, n);
}

// SEEK_DATA/SEEK_HOLE: the text is all data. The size `stat` shows is the number of holders, so
// without this the kernel would place the hole there, and cp (coreutils 9, which copies the
// data regions) would copy one byte.
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t offset, int whence, fuse_file_info*) {
  auto node = node_of(req, ino);
  if (!node) return;
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return (void)fuse_reply_err(req, EINVAL);
  auto length = static_cast<off_t>(node_status_text(Filesystem::of(req), *node).size());
  if (offset < 0 || offset >= length) return (void)fuse_reply_err(req, ENXIO);
  fuse_reply_lseek(req, whence == SEEK_DATA ? offset : length);
}

void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t offset,
              fuse_file_info* fi) {
  OpenHandle* handle = handle_of(fi);
  if (handle == nullptr) return (void)fuse_reply_err(req, EBADF);
  if (offset < 0 || static_cast<size_t>(offset) + size > OpenHandle::kMaxReason) {
    spdlog::warn("reason text for {} longer than {} bytes refused (pid {})",
                 handle->request.object.describe(), OpenHandle::kMaxReason, handle->opener.pid());
    return (void)fuse_reply_err(req, EFBIG);
  }
  std::lock_guard hold(handle->mutex);
  if (fi->flags & O_APPEND) offset = static_cast<off_t>(handle->reason.size());
  if (static_cast<size_t>(offset) + size > OpenHandle::kMaxReason) {
    return (void)fuse_reply_err(req, EFBIG);
  }
  if (handle->reason.size() < static_cast<size_t>(offset) + size) {
    handle->reason.resize(static_cast<size_t>(offset) + size);
  }
  handle->reason.replace(static_cast<size_t>(offset), size, buf, size);
  fuse_reply_write(req, size);
}

void op_flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
  auto& fs = Filesystem::of(req);
  OpenHandle* handle = handle_of(fi);
  if (handle == nullptr) return (void)fuse_reply_err(req, EBADF);
  Caller caller = Caller::of(req);
  if (refuse_unless(fs.access.may_lock(caller), req, caller, "flock", handle->key)) return;
  fs.locks->flock(req, handle, op, process_of(caller.pid));
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  auto& fs = Filesystem::of(req);
  auto node = node_of(req, ino);
  if (!node) return;
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    spdlog::warn("refused chmod/chown of {}: EPERM", node->key());
    return (void)fuse_reply_err(req, EPERM);
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (node->is_directory()) return (void)fuse_reply_err(req, EISDIR);
    OpenHandle* handle = fi ? handle_of(fi) : nullptr;
    if (handle == nullptr) return (void)fuse_reply_err(req, EPERM);  // truncate needs a handle
    if (attr->st_size < 0 || static_cast<size_t>(attr->st_size) > OpenHandle::kMaxReason) {
      return (void)fuse_reply_err(req, EFBIG);
    }
    std::lock_guard hold(handle->mutex);
    handle->reason.resize(static_cast<size_t>(attr->st_size));
  }
  // Times (touch) are accepted and ignored: the time shown is the lock's.
  struct stat st = node_attributes(fs, *node, ino);
  fuse_reply_attr(req, &st, 0);
}

}  // namespace pbs::fs
