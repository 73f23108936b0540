// FUSE operations on lock nodes: open takes the lock, release drops it, flock converts it,
// read shows the state, write stores the holder's reason, setattr only allows harmless changes.
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>

#include <memory>

#include <spdlog/spdlog.h>

#include "filesystem.hpp"
#include "ops.hpp"

namespace pbs::fs {
namespace {

// File handle 0 is the status file, which takes no lock; the events and metrics files' handles
// are ids in fs.snapshots (told apart by the node); a lock node's is its OpenHandle. Both are
// looked up, never dereferenced: a READ, WRITE or FLOCK can still be answered after the
// kernel released the handle (its caller was killed), and then finds nothing (EBADF).
std::shared_ptr<OpenHandle> handle_of(Request& req, const fuse_file_info* fi) {
  return fi == nullptr ? nullptr : Filesystem::of(req).lock_manager->handle_of(fi->fh);
}

}  // namespace

void op_open(Request& req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = Filesystem::of(req);
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  if (node->is_directory()) return req.error(EISDIR);
  fi->direct_io = 1;  // every read reaches us: the status text is live
  fi->keep_cache = 0;
  fi->noflush = 1;  // no FLUSH round trip on close: we release on RELEASE
  const int access = fi->flags & O_ACCMODE;
  if (node->kind == NodeKind::kStatusFile) {
    if (access != O_RDONLY) return req.error(EACCES);
    fi->fh = 0;
    req.open(*fi);
    return;
  }
  Caller caller = Caller::of(req);
  if (node->is_snapshot_file()) {
    if (access != O_RDONLY) return req.error(EACCES);
    if (!permitted(fs.access.may_list(caller), caller, "read", node->mount_path()))
      return req.error(EACCES);
    fi->fh =
        fs.snapshots.add(node->kind == NodeKind::kEventsFile ? events_text(fs) : metrics_text(fs));
    // An opener gone meanwhile gets no release: dropped here.
    if (!req.open(*fi)) fs.snapshots.release(fi->fh);
    return;
  }
  if (!permitted(fs.access.may_lock(caller), caller, "lock", node->mount_path()))
    return req.error(EACCES);
  auto exists = fs.tree->exists(*node);
  if (!exists)
    return req.error(fs.shortage.answer(exists.error(), "open of " + node->mount_path()));
  if (!*exists) return req.error(ENOENT);

  auto handle = std::make_shared<OpenHandle>();
  handle->request.object = node->lock_object();
  handle->request.mode = access == O_RDONLY ? LockMode::kShared : LockMode::kExclusive;
  handle->request.datastore_path = fs.tree->datastore_path(node->store);
  handle->request.create = true;
  handle->lock_file = handle->request.object.lock_path().relative();
  handle->opener = ProcessRef::of_thread(caller.tid);
  handle->uid = caller.uid;
  fs.lock_manager->open(std::move(req), *fi, std::move(handle), fi->flags & O_NONBLOCK,
                        fs.options.open_locks);
}

void op_release(Request& req, fuse_ino_t ino, fuse_file_info* fi) {
  auto node = node_of(req, ino);
  if (node && node->is_snapshot_file()) {
    Filesystem::of(req).snapshots.release(fi->fh);
  } else if (auto handle = handle_of(req, fi)) {
    Filesystem::of(req).lock_manager->release(handle.get());
  }
  req.error(0);
}

void op_flush(Request& req, fuse_ino_t, fuse_file_info*) {
  req.error(0);
}

void op_read(Request& req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  if (node->is_snapshot_file()) {
    auto snapshot = Filesystem::of(req).snapshots.get(fi->fh);
    if (!snapshot) return req.error(EBADF);
    const std::string& text = *snapshot;
    if (offset < 0) return req.error(EINVAL);
    if (offset >= static_cast<off_t>(text.size())) return (void)req.buffer(nullptr, 0);
    return (void)req.buffer(text.data() + offset,
                            std::min(size, text.size() - static_cast<size_t>(offset)));
  }
  auto& fs = Filesystem::of(req);
  std::string text = open_node_text(fs, *node);
  // The holder's own line: who wanted its lock (and the end of POLLPRI until somebody does again).
  if (auto handle = node->is_lock() ? handle_of(req, fi) : nullptr)
    text += fs.contention->read_by(*handle);
  if (offset >= static_cast<off_t>(text.size())) return (void)req.buffer(nullptr, 0);
  size_t n = std::min(size, text.size() - static_cast<size_t>(offset));
  req.buffer(text.data() + offset, n);
}

// SEEK_DATA/SEEK_HOLE: the text is all data. The size `stat` shows is the number of holders, so
// without this the kernel would place the hole there, and cp (coreutils 9, which copies the
// data regions) would copy one byte.
void op_lseek(Request& req, fuse_ino_t ino, off_t offset, int whence, fuse_file_info* fi) {
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return req.error(EINVAL);
  std::size_t size = 0;
  if (node->is_snapshot_file()) {
    auto snapshot = Filesystem::of(req).snapshots.get(fi->fh);
    if (!snapshot) return req.error(EBADF);
    size = snapshot->size();
  } else {
    size = open_node_text(Filesystem::of(req), *node).size();
  }
  auto length = static_cast<off_t>(size);
  if (offset < 0 || offset >= length) return req.error(ENXIO);
  req.lseek(whence == SEEK_DATA ? offset : length);
}

void op_write(Request& req, fuse_ino_t ino, const char* buf, size_t size, off_t offset,
              fuse_file_info* fi) {
  if (auto node = node_of(req, ino); !node || !node->is_lock()) return req.error(EBADF);
  auto handle = handle_of(req, fi);
  if (handle == nullptr) return req.error(EBADF);
  if (offset < 0 || static_cast<size_t>(offset) + size > OpenHandle::kMaxReason) {
    spdlog::warn("reason text for {} longer than {} bytes refused (pid {})",
                 handle->request.object.describe(), OpenHandle::kMaxReason, handle->opener.pid());
    return req.error(EFBIG);
  }
  std::string reason;
  {
    MutexLock hold(handle->mutex);
    if (fi->flags & O_APPEND) offset = static_cast<off_t>(handle->reason.size());
    if (static_cast<size_t>(offset) + size > OpenHandle::kMaxReason) {
      return req.error(EFBIG);
    }
    if (handle->reason.size() < static_cast<size_t>(offset) + size) {
      handle->reason.resize(static_cast<size_t>(offset) + size);
    }
    handle->reason.replace(static_cast<size_t>(offset), size, buf, size);
    reason = handle->reason;
  }
  Filesystem::of(req).events->reason_written(*handle, reason);  // shown in the history at once
  req.written(size);
}

void op_flock(Request& req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  auto& fs = Filesystem::of(req);
  if (auto node = node_of(req, ino); !node || !node->is_lock()) return req.error(EBADF);
  auto handle = handle_of(req, fi);
  if (handle == nullptr) return req.error(EBADF);
  Caller caller = Caller::of(req);
  if (!permitted(fs.access.may_lock(caller), caller, "flock", handle->lock_file))
    return req.error(EACCES);
  fs.lock_manager->flock(std::move(req), handle.get(), op, process_of(caller.tid));
}

void op_poll(Request& req, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph) {
  auto node = node_of(req, ino);
  auto handle = node && node->is_lock() ? handle_of(req, fi) : nullptr;
  if (handle == nullptr) {
    if (ph != nullptr) fuse_pollhandle_destroy(ph);
    return req.poll(POLLIN | POLLOUT);
  }
  req.poll(Filesystem::of(req).contention->poll(*handle, ph, ConnectionIo::current_poll_kh()));
}

void op_setattr(Request& req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  auto& fs = Filesystem::of(req);
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    spdlog::warn("refused chmod/chown of {}: EPERM", node->mount_path());
    return req.error(EPERM);
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (node->is_directory()) return req.error(EISDIR);
    auto handle = node->is_lock() ? handle_of(req, fi) : nullptr;
    if (handle == nullptr) return req.error(EPERM);  // truncate needs a handle
    if (attr->st_size < 0 || static_cast<size_t>(attr->st_size) > OpenHandle::kMaxReason) {
      return req.error(EFBIG);
    }
    MutexLock hold(handle->mutex);
    handle->reason.resize(static_cast<size_t>(attr->st_size));
  }
  // Times (touch) are accepted and ignored: the time shown is the lock's.
  struct stat st = node_attributes(fs, *node, ino);
  req.attr(st, 0);
}

}  // namespace pbs::fs
