// FUSE operations over the tree: lookup, forget, getattr, opendir/readdir/releasedir, statfs.
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <spdlog/spdlog.h>

#include <cstring>
#include <memory>
#include <unordered_map>

#include "filesystem.hpp"
#include "mutex.hpp"
#include "ops.hpp"

namespace pbs::fs {
namespace {

// Directory entries are stable for a few seconds (PBS adds snapshots rarely). Lock nodes'
// attributes are kept for attr_timeout; see attribute_timeout().
constexpr double kEntryTimeout = 1.0;

struct DirHandle {
  std::vector<std::pair<std::string, Node>> entries;
};

// The open directories' listings by file handle (an id, never a pointer: a READDIR may still be
// answered after the kernel released its handle, when the reader was killed, and then finds
// nothing). At the end of serving, release_open_directories() drops them.
Mutex g_open_directories_mutex;
std::uint64_t g_next_directory PBS_GUARDED_BY(g_open_directories_mutex) = 1;
std::unordered_map<std::uint64_t, std::shared_ptr<const DirHandle>> g_open_directories
    PBS_GUARDED_BY(g_open_directories_mutex);

std::uint64_t remember_directory(std::shared_ptr<const DirHandle> handle) {
  MutexLock lock(g_open_directories_mutex);
  const std::uint64_t fh = g_next_directory++;
  g_open_directories.emplace(fh, std::move(handle));
  return fh;
}

std::shared_ptr<const DirHandle> directory_of(std::uint64_t fh) {
  MutexLock lock(g_open_directories_mutex);
  auto found = g_open_directories.find(fh);
  return found == g_open_directories.end() ? nullptr : found->second;
}

void forget_directory(std::uint64_t fh) {
  std::shared_ptr<const DirHandle> last;  // freed outside the mutex
  MutexLock lock(g_open_directories_mutex);
  auto found = g_open_directories.find(fh);
  if (found == g_open_directories.end()) return;
  last = std::move(found->second);
  g_open_directories.erase(found);
}

}  // namespace

void release_open_directories() {
  MutexLock lock(g_open_directories_mutex);
  g_open_directories.clear();
}

SavedDirectories save_open_directories() {
  SavedDirectories saved;
  MutexLock lock(g_open_directories_mutex);
  for (const auto& [fh, handle] : g_open_directories)
    saved.open.emplace_back(fh, handle->entries);
  saved.next = g_next_directory;
  return saved;
}

void restore_open_directories(SavedDirectories saved) {
  MutexLock lock(g_open_directories_mutex);
  for (auto& [fh, entries] : saved.open)
    g_open_directories[fh] = std::make_shared<const DirHandle>(DirHandle{std::move(entries)});
  g_next_directory = std::max(g_next_directory, saved.next);
}

std::optional<Node> node_of(const Request& req, fuse_ino_t ino) {
  return Filesystem::of(req).inodes.find(ino);
}

bool permitted(bool allowed, const Caller& caller, const char* what, const std::string& target) {
  if (!allowed) {
    spdlog::warn("refused {} of {} to {}: EACCES", what, target.empty() ? "/" : target,
                 caller.describe());
  }
  return allowed;
}

void op_lookup(Request& req, fuse_ino_t parent, const char* name) {
  auto& fs = Filesystem::of(req);
  auto dir = node_of(req, parent);
  if (!dir) return req.error(ESTALE);
  if (!dir->is_directory()) return req.error(ENOTDIR);
  if (std::strlen(name) > 255) return req.error(ENAMETOOLONG);  // as statfs says
  Caller caller = Caller::of(req);
  // The log names what was asked for, not only the directory it was asked in.
  const std::string asked = dir->mount_path().empty() || dir->mount_path() == "/"
                                ? std::string(name)
                                : dir->mount_path() + "/" + name;
  if (!permitted(fs.access.may_list(caller), caller, "lookup", asked)) return req.error(EACCES);
  auto child = fs.tree->child(*dir, name);
  if (!child) {
    return req.error(
        fs.shortage.answer(child.error(), "lookup of " + dir->mount_path() + "/" + name));
  }
  fuse_entry_param entry{};
  entry.ino = fs.inodes.remember(parent, *child);
  entry.attr = node_attributes(fs, *child, entry.ino);
  entry.entry_timeout = kEntryTimeout;
  entry.attr_timeout = attribute_timeout(fs, *child);
  if (!req.entry(entry)) fs.inodes.forget(entry.ino, 1);
}

void op_forget(Request& req, fuse_ino_t ino, uint64_t nlookup) {
  Filesystem::of(req).inodes.forget(ino, nlookup);
  req.none();
}

void op_forget_multi(Request& req, size_t count, fuse_forget_data* forgets) {
  auto& fs = Filesystem::of(req);
  for (size_t i = 0; i < count; ++i)
    fs.inodes.forget(forgets[i].ino, forgets[i].nlookup);
  req.none();
}

void op_getattr(Request& req, fuse_ino_t ino, fuse_file_info*) {
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  auto& fs = Filesystem::of(req);
  if (node->kind != NodeKind::kRoot && !node->is_control_file()) {
    Caller caller = Caller::of(req);
    if (!permitted(fs.access.may_list(caller), caller, "stat", node->mount_path()))
      return req.error(EACCES);
  }
  struct stat st = node_attributes(fs, *node, ino);
  req.attr(st, attribute_timeout(fs, *node));
}

void op_opendir(Request& req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = Filesystem::of(req);
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  if (!node->is_directory()) return req.error(ENOTDIR);
  Caller caller = Caller::of(req);
  if (!permitted(fs.access.may_list(caller), caller, "listing", node->mount_path()))
    return req.error(EACCES);
  auto children = fs.tree->children(*node);
  if (!children) {
    return req.error(fs.shortage.answer(children.error(), "listing of " + node->mount_path()));
  }
  fi->fh =
      remember_directory(std::make_shared<const DirHandle>(DirHandle{std::move(children.value())}));
  fi->cache_readdir = 0;
  if (!req.open(*fi)) forget_directory(fi->fh);
}

void op_readdir(Request& req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  auto handle = directory_of(fi->fh);
  if (!handle) return req.error(EBADF);
  std::string buffer(size, '\0');
  size_t used = 0;
  // Offsets: 0 ".", 1 "..", then entries[offset - 2].
  for (off_t i = offset; i < static_cast<off_t>(handle->entries.size()) + 2; ++i) {
    struct stat st {};
    std::string name;
    if (i < 2) {
      name = i == 0 ? "." : "..";
      st.st_ino = ino;
      st.st_mode = S_IFDIR;
    } else {
      const auto& [entry_name, node] = handle->entries[i - 2];
      name = entry_name;
      st.st_ino = InodeTable::listing_inode(node.mount_path());
      st.st_mode = node.is_directory() ? S_IFDIR : S_IFREG;
    }
    size_t need = fuse_add_direntry(req.get(), nullptr, 0, name.c_str(), nullptr, 0);
    if (used + need > size) break;
    fuse_add_direntry(req.get(), buffer.data() + used, size - used, name.c_str(), &st, i + 1);
    used += need;
  }
  req.buffer(buffer.data(), used);
}

// `ls -l` in one pass: every entry comes with its attributes (and live lock state, from one
// read of /proc/locks), so the kernel needs no lookup or getattr per entry.
void op_readdirplus(Request& req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  auto& fs = Filesystem::of(req);
  auto handle = directory_of(fi->fh);
  if (!handle) return req.error(EBADF);
  std::string buffer(size, '\0');
  size_t used = 0;
  std::vector<std::uint64_t> remembered;  // each entry but . and .. counts as a lookup
  ListingLookups lookups(fs);
  for (off_t i = offset; i < static_cast<off_t>(handle->entries.size()) + 2; ++i) {
    std::string name = i == 0 ? "." : i == 1 ? ".." : handle->entries[i - 2].first;
    size_t need = fuse_add_direntry_plus(req.get(), nullptr, 0, name.c_str(), nullptr, 0);
    if (used + need > size) break;
    fuse_entry_param entry{};
    if (i < 2) {
      entry.attr.st_ino = ino;
      entry.attr.st_mode = S_IFDIR;
    } else {
      const Node& node = handle->entries[i - 2].second;
      entry.ino = fs.inodes.remember(ino, node);
      remembered.push_back(entry.ino);
      entry.attr = node_attributes(fs, node, entry.ino, &lookups);
      entry.entry_timeout = kEntryTimeout;
      entry.attr_timeout = attribute_timeout(fs, node);
    }
    fuse_add_direntry_plus(req.get(), buffer.data() + used, size - used, name.c_str(), &entry,
                           i + 1);
    used += need;
  }
  if (!req.buffer(buffer.data(), used)) {
    for (auto remembered_ino : remembered)  // the kernel never saw them
      fs.inodes.forget(remembered_ino, 1);
  }
}

void op_releasedir(Request& req, fuse_ino_t, fuse_file_info* fi) {
  forget_directory(fi->fh);
  req.error(0);
}

void op_statfs(Request& req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = st.f_frsize = 4096;
  st.f_namemax = 255;
  // Nodes are not a resource that runs out: report the inode table's bound as the total and the
  // rest as free (0 free would read as 100% inodes used and trip monitoring alerts).
  const auto& fs = Filesystem::of(req);
  const std::uint64_t used = fs.inodes.size();
  st.f_files = std::max<std::uint64_t>(fs.options.max_inodes, used);
  st.f_ffree = st.f_favail = st.f_files - used;
  req.statfs(st);
}

}  // namespace pbs::fs
