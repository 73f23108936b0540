// Reading the lock tree back; see lock_directory.hpp.
#include "lock_directory.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "escape.hpp"
#include "lock_file.hpp"
#include "safe_dir.hpp"

namespace pbs {
namespace {

constexpr std::string_view kManifestSuffix = "/.index.json.lck";

std::string ns_lock_dir(const std::string& store, const Namespace& ns) {
  return ns.is_root() ? store : store + "/" + ns.join(':');
}

}  // namespace

std::optional<LockObject> parse_lock_file_name(const std::string& store, const Namespace& ns,
                                               const std::string& name) {
  if (is_temporary_lock_name(name)) return std::nullopt;
  auto rpath = unescape_lock_name(name);
  if (!rpath) return std::nullopt;
  bool manifest = rpath->ends_with(kManifestSuffix);
  if (manifest) rpath->resize(rpath->size() - kManifestSuffix.size());
  auto object = LockObject::parse(store, ns, *rpath, manifest);
  if (!object) return std::nullopt;
  // Only names PBS itself would use for this object (rejects e.g. over-long unhashed names).
  if (object->lock_path().name != name || object->lock_path().hashed) return std::nullopt;
  return std::move(object.value());
}

namespace {

// The objects whose lock files are in the open lock directory `dirfd`.
Result<std::vector<LockObject>> lock_files_in(int dirfd, const std::string& store,
                                              const Namespace& ns) {
  auto entries = read_directory(dirfd);
  if (!entries) return entries.error();
  std::vector<LockObject> out;
  for (const auto& entry : *entries) {
    if (entry.type != S_IFREG) continue;
    if (auto object = parse_lock_file_name(store, ns, entry.name))
      out.push_back(std::move(*object));
  }
  return out;
}

}  // namespace

Result<std::vector<LockObject>> list_lock_files(const LockRoot& root, const std::string& store,
                                                const Namespace& ns) {
  auto dir = open_beneath(root.fd(), ns_lock_dir(store, ns), O_RDONLY | O_DIRECTORY);
  if (!dir) {
    if (dir.error().code == ENOENT) return std::vector<LockObject>{};
    return dir.error();
  }
  return lock_files_in(dir->get(), store, ns);
}

Result<std::shared_ptr<const std::vector<LockObject>>> LockFileListingCache::list(
    const LockRoot& root, const std::string& store, const Namespace& ns) {
  static const auto empty = std::make_shared<const std::vector<LockObject>>();
  const std::string relative = ns_lock_dir(store, ns);
  auto dir = open_beneath(root.fd(), relative, O_RDONLY | O_DIRECTORY);
  struct stat st {};
  if (!dir || fstat(dir->get(), &st) != 0) {
    if (!dir && is_resource_shortage(dir.error().code)) return dir.error();
    MutexLock lock(mutex_);
    entries_.erase(relative);
    return empty;
  }
  {
    MutexLock lock(mutex_);
    auto found = entries_.find(relative);
    if (found != entries_.end() && found->second.device == st.st_dev &&
        found->second.inode == st.st_ino && found->second.modified.tv_sec == st.st_mtim.tv_sec &&
        found->second.modified.tv_nsec == st.st_mtim.tv_nsec) {
      return found->second.objects;
    }
  }
  auto objects = lock_files_in(dir->get(), store, ns);
  if (!objects) {
    if (is_resource_shortage(objects.error().code)) return objects.error();
    return empty;
  }
  auto shared = std::make_shared<const std::vector<LockObject>>(std::move(*objects));
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  double age = static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) +
               static_cast<double>(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
  MutexLock lock(mutex_);
  if (age > 0.1) {
    entries_[relative] = Entry{st.st_dev, st.st_ino, st.st_mtim, shared};
  } else {
    entries_.erase(relative);
  }
  return shared;
}

Result<std::vector<std::string>> list_lock_child_namespaces(const LockRoot& root,
                                                            const std::string& store,
                                                            const Namespace& ns) {
  auto dir = open_beneath(root.fd(), store, O_RDONLY | O_DIRECTORY);
  if (!dir) {
    if (dir.error().code == ENOENT) return std::vector<std::string>{};
    return dir.error();
  }
  auto entries = read_directory(dir->get());
  if (!entries) return entries.error();
  const bool old_locking = root.old_locking_active();
  std::string prefix = ns.is_root() ? "" : ns.join(':') + ":";
  std::vector<std::string> out;
  for (const auto& entry : *entries) {
    if (entry.type != S_IFDIR || !entry.name.starts_with(prefix) || entry.name == "hashed")
      continue;
    // While the old-locking marker exists PBS keeps manifest locks in `<store>/[ns/a/]vm/…`:
    // those directories are not namespaces.
    if (old_locking && (entry.name == "ns" || parse_backup_type(entry.name))) continue;
    std::string rest = entry.name.substr(prefix.size());
    std::string child = rest.substr(0, rest.find(':'));
    if (!ns.child(child).ok()) continue;
    if (std::find(out.begin(), out.end(), child) == out.end()) out.push_back(child);
  }
  return out;
}

Result<bool> lock_file_exists(const LockRoot& root, const LockObject& object) {
  auto path = object.lock_path();
  auto dir = root.open_directory(path, false);
  if (!dir) {
    if (is_resource_shortage(dir.error().code)) return dir.error();
    return false;
  }
  struct stat st {};
  return fstatat(dir->get(), path.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

bool lock_namespace_exists(const LockRoot& root, const std::string& store, const Namespace& ns) {
  if (ns.is_root()) return open_beneath(root.fd(), store, O_PATH | O_DIRECTORY).ok();
  if (open_beneath(root.fd(), ns_lock_dir(store, ns), O_PATH | O_DIRECTORY).ok()) return true;
  Namespace parent;
  for (std::size_t i = 0; i + 1 < ns.depth(); ++i)
    parent = *parent.child(ns.components()[i]);
  auto siblings = list_lock_child_namespaces(root, store, parent);
  return siblings &&
         std::find(siblings->begin(), siblings->end(), ns.components().back()) != siblings->end();
}

std::map<std::string, LockObject> hashed_objects(const Datastore& datastore,
                                                 const std::string& store, const Namespace& ns) {
  std::map<std::string, LockObject> out;
  auto add = [&](LockObject object) {
    LockPath path = object.lock_path();
    if (path.hashed) out.emplace(path.name, std::move(object));
  };
  auto types = datastore.types(ns);
  for (BackupType type : types ? *types : std::vector<BackupType>{}) {
    auto ids = datastore.group_ids(ns, type);
    for (const auto& id : ids ? *ids : std::vector<std::string>{}) {
      BackupGroup group{type, id};
      add(LockObject::group_lock(store, ns, group));
      auto times = datastore.snapshot_times(ns, group);
      for (const auto& time : times ? *times : std::vector<std::string>{}) {
        add(LockObject::snapshot_lock(store, ns, {group, time}));
        add(LockObject::manifest_lock(store, ns, {group, time}));
      }
    }
  }
  return out;
}

}  // namespace pbs
