// Removing: `rm` of a lock node runs PBS's destroy protocol on its lock files, `rmdir` of a
// group removes the group lock file once no snapshot nodes remain. The datastore is never touched.
#include <spdlog/spdlog.h>

#include "filesystem.hpp"
#include "lock_file.hpp"
#include "lock_removal.hpp"
#include "ops.hpp"

namespace pbs::fs {
namespace {

// Removes the lock files of `node` (a lock node or, for rmdir, a group's lock) under the
// caller's own exclusive hold through the mount if it has one; EBUSY if anybody else holds it.
int remove_locks(Filesystem& fs, const Node& node, const Caller& caller, const Request& req) {
  LockObject object = node.lock_object();
  std::string store_path = fs.tree->datastore_path(node.store);
  std::vector<LockRequest> requests =
      node.kind == NodeKind::kSnapshot
          ? snapshot_removal(object, store_path)
          : std::vector<LockRequest>{{object, LockMode::kExclusive, store_path, false}};
  for (const auto& request : requests) {
    if (is_temporary_lock_name(request.object.lock_path().name)) {
      spdlog::warn(
          "remove {} refused to {}: EPERM (its lock file name {} is that of a temporary "
          "file of PBS's lock protocol, which may be in flight)",
          object.describe(), caller.describe(), request.object.lock_path().name);
      return EPERM;
    }
  }
  const pid_t process = process_of(caller.tid);
  const std::string lock_file = fs.lock_root->absolute(object.lock_path());
  std::shared_ptr<OpenHandle> own;
  for (const auto& handle : fs.lock_manager->handles(object.lock_path().relative())) {
    if (!handle->holds()) continue;
    LockMode mode;
    {
      MutexLock hold(handle->mutex);
      // Released meanwhile, or a hold on a lock file destroyed under it (PBS's prune, whose
      // close is still on its way): that locks nothing any more, as with PBS's own protocol.
      if (!handle->holds_file_at(lock_file)) continue;
      mode = handle->lock.mode();
    }
    // The holder itself, or a process it started (`exec 9>node; rm node` runs rm as a child).
    // The opener must still be alive: once it has exited its pid may be anybody's, and whoever
    // keeps its descriptor (a child it started) cannot be told from anybody else.
    if (mode == LockMode::kExclusive && handle->opener.is_same_or_ancestor_of(process)) {
      own = handle;
    } else {
      spdlog::info("remove {} refused to {}: EBUSY (held {} by pid {}{})", object.describe(),
                   caller.describe(), to_string(mode), handle->opener.pid(),
                   handle->opener.alive() ? ""
                                          : ", which has exited; a process it started keeps its "
                                            "descriptor");
      return EBUSY;
    }
  }
  // A manifest held by PBS (notes, verify state) is waited for up to 5 s, as PBS's destroy does,
  // on this worker; a signal to rm ends the wait with EINTR.
  auto interrupted = [raw = req.get()] { return fuse_req_interrupted(raw) != 0; };
  Result<void> removed;
  if (own) {
    MutexLock hold(own->mutex);
    removed = remove_lock_files(*fs.lock_root, requests, &own->lock, interrupted);
  } else {
    removed = remove_lock_files(*fs.lock_root, requests, nullptr, interrupted);
  }
  if (!removed) {
    spdlog::info("remove {} refused to {}: {}", object.describe(), caller.describe(),
                 removed.error().message);
    return removed.error().code;
  }
  spdlog::info("removed lock files of {} for {}{}", object.describe(), caller.describe(),
               own ? " under its own hold" : "");
  return 0;
}

}  // namespace

void op_unlink(Request& req, fuse_ino_t parent, const char* name) {
  auto& fs = Filesystem::of(req);
  auto dir = node_of(req, parent);
  if (!dir) return req.error(ESTALE);
  Caller caller = Caller::of(req);
  if (!permitted(fs.access.may_lock(caller), caller, "unlink", dir->mount_path() + "/" + name)) {
    return req.error(EACCES);
  }
  auto node = fs.tree->child(*dir, name);
  if (!node) return req.error(node.error().code);
  if (node->is_directory()) return req.error(EISDIR);
  if (!node->is_lock()) return req.error(EPERM);
  req.error(remove_locks(fs, *node, caller, req));
}

void op_rmdir(Request& req, fuse_ino_t parent, const char* name) {
  auto& fs = Filesystem::of(req);
  auto dir = node_of(req, parent);
  if (!dir) return req.error(ESTALE);
  Caller caller = Caller::of(req);
  if (!permitted(fs.access.may_lock(caller), caller, "rmdir", dir->mount_path() + "/" + name)) {
    return req.error(EACCES);
  }
  auto node = fs.tree->child(*dir, name);
  if (!node) return req.error(node.error().code);
  if (!node->is_directory()) return req.error(ENOTDIR);
  if (node->kind != NodeKind::kGroup) {
    spdlog::info("rmdir {} refused to {}: EPERM (lock tree directories are never removed)",
                 node->mount_path(), caller.describe());
    return req.error(EPERM);
  }
  auto children = fs.tree->children(*node);
  if (!children) return req.error(children.error().code);
  for (const auto& [child_name, child] : *children) {
    if (child.kind == NodeKind::kSnapshot || child.kind == NodeKind::kManifest) {
      return req.error(ENOTEMPTY);
    }
  }
  Node group_lock = *node;
  group_lock.kind = NodeKind::kGroupLock;
  req.error(remove_locks(fs, group_lock, caller, req));
}

}  // namespace pbs::fs
