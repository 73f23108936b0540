// `pbs-lockctl list`: every held lock under the lock root, with who holds it, how and since
// when, and the PBS task behind it. Works without the mount (reading /proc/locks and the lock
// tree); locks held by pbs-lockfs daemons are shown as their real requesters, which each daemon
// reports on its own socket (never through the mount, so a stopped daemon cannot hang it).
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datastore_registry.hpp"
#include "lock_directory.hpp"
#include "lock_holders.hpp"
#include "lock_root.hpp"
#include "lockctl_commands.hpp"
#include "mount_holders.hpp"
#include "owner.hpp"
#include "safe_dir.hpp"
#include "text_escape.hpp"

namespace pbs::lockctl {
namespace {

struct Row {
  std::string store, ns, object, kind, lock_file;
  LockHolder holder;
};

// Whether `path` is a lock root to list: a directory owned by the backup user, as PBS creates
// it. A missing default lock root means PBS took no lock since boot.
std::optional<std::string> lock_root_problem(const std::string& path, uid_t backup_uid) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return path + ": " + error_text(errno);
  if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
  if (st.st_uid != backup_uid) {
    return path + " is not a PBS lock root (owned by uid " + std::to_string(st.st_uid) +
           "; PBS creates its lock root as backup)";
  }
  return std::nullopt;
}

}  // namespace

int run_list(const std::vector<std::string>& args) {
  std::string lock_root = kDefaultLockRoot, store_filter, ns_text, tasks_file = kDefaultActiveTasks,
              config = kDefaultDatastoreConfig;
  bool json = false, ns_given = false, lock_root_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (arg == "--json") {
      json = true;
    } else if (arg == "--lock-root") {
      if (!value(lock_root)) return usage_error("--lock-root needs a value");
      lock_root_given = true;
    } else if (arg == "--store") {
      if (!value(store_filter)) return usage_error("--store needs a value");
    } else if (arg == "--ns") {
      if (!value(ns_text)) return usage_error("--ns needs a value");
      ns_given = true;
    } else if (arg == "--config") {
      if (!value(config)) return usage_error("--config needs a value");
    } else if (arg == "--tasks-file") {
      if (!value(tasks_file)) return usage_error("--tasks-file needs a value");
    } else {
      return usage_error("unknown argument " + arg + " (try --help)");
    }
  }
  auto ns_filter = Namespace::parse(ns_text);
  if (!ns_filter) return usage_error(ns_filter.error().message);
  if (!store_filter.empty()) {
    if (auto ok = check_store_name(store_filter); !ok) return usage_error(ok.error().message);
  }
  std::string root_path = trim_trailing_slashes(lock_root);
  auto backup = Owner::lookup("backup", "backup");
  if (!backup) return usage_error("the backup user: " + backup.error().message);
  struct stat st {};
  if (!lock_root_given && stat(root_path.c_str(), &st) != 0 && errno == ENOENT) {
    std::fprintf(stderr, "pbs-lockctl: no lock root at %s: PBS has taken no lock since boot\n",
                 root_path.c_str());
  } else if (auto problem = lock_root_problem(root_path, backup->uid)) {
    return usage_error(*problem);
  }
  // Daemons serve as backup (or their user=, usually backup); answers timed out are reported.
  MountHoldersResolver daemons({0, backup->uid}, std::chrono::hours(1), std::chrono::seconds(1));
  // Only to name hashed lock files: read when one is held.
  auto registry = DatastoreRegistry::from_config(config);
  UniqueFd root_fd(::open(root_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const int root = root_fd.get();
  std::vector<Row> rows;
  std::optional<LockRoot> tree;  // only once it exists: listing never creates anything
  if (root >= 0) {
    if (auto opened = LockRoot::open(root_path, Owner{}, ""))
      tree.emplace(std::move(opened.value()));
  }
  if (root >= 0 && tree) {
    auto proc_locks = read_proc_locks();
    auto tasks = read_active_tasks(tasks_file);
    auto stores = read_directory(root);
    for (const auto& store : stores ? *stores : std::vector<DirEntry>{}) {
      if (store.type != S_IFDIR || !check_store_name(store.name)) continue;
      if (!store_filter.empty() && store.name != store_filter) continue;
      auto store_fd = open_beneath(root, store.name, O_RDONLY | O_DIRECTORY);
      if (!store_fd) continue;
      std::vector<Namespace> namespaces{Namespace{}};
      if (auto dirs = read_directory(store_fd->get())) {
        for (const auto& d : *dirs) {
          if (d.type != S_IFDIR || d.name == "hashed") continue;
          std::string slashed = d.name;
          for (char& c : slashed)
            c = c == ':' ? '/' : c;
          if (auto ns = Namespace::parse(slashed); ns && ns->join(':') == d.name) {
            namespaces.push_back(*ns);
          }
        }
      }
      for (const auto& ns : namespaces) {
        if (ns_given && !(ns == *ns_filter)) continue;
        // The holders of lock file `file`, with the real requesters in place of daemons.
        auto holders_of = [&](const std::string& file) {
          std::vector<LockHolder> shown;
          struct stat st {};
          if (lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return shown;
          shown = direct_holders(proc_locks ? *proc_locks : std::vector<ProcLock>{}, st.st_dev,
                                 st.st_ino);
          daemons.resolve(shown, st.st_dev, st.st_ino);
          return shown;
        };
        auto add_rows = [&](std::vector<LockHolder> shown, const LockObject& object,
                            const std::string& shown_object, const std::string& kind,
                            const std::string& file) {
          match_tasks(shown, tasks, object);
          for (auto& h : shown)
            rows.push_back({store.name, ns.join('/'), shown_object, kind, file, std::move(h)});
        };
        auto objects = list_lock_files(*tree, store.name, ns);
        for (const auto& object : objects ? *objects : std::vector<LockObject>{}) {
          std::string file = root_path + "/" + object.lock_path().relative();
          add_rows(holders_of(file), object, object.rpath(), std::string(to_string(object.kind)),
                   file);
        }
        // Hashed lock files (names of 255 bytes or more): a held one is named by hashing what
        // the datastore holds (read once, when the first is found held); one whose object is
        // not found there shows as its file name.
        LockPath hashed{store.name, ns.join(':'), true, ""};
        auto hashed_fd = tree->open_directory(hashed, false);
        auto files = hashed_fd ? read_directory(hashed_fd->get())
                               : Result<std::vector<DirEntry>>(std::vector<DirEntry>{});
        std::optional<std::map<std::string, LockObject>> known;
        for (const auto& f : files ? *files : std::vector<DirEntry>{}) {
          if (f.type != S_IFREG) continue;
          hashed.name = f.name;
          std::string file = root_path + "/" + hashed.relative();
          auto shown = holders_of(file);
          if (shown.empty()) continue;
          if (!known) {
            auto datastore = registry->find(store.name);
            known = datastore ? hashed_objects(*datastore, store.name, ns)
                              : std::map<std::string, LockObject>{};
          }
          if (auto found = known->find(f.name); found != known->end()) {
            add_rows(std::move(shown), found->second, found->second.rpath(),
                     std::string(to_string(found->second.kind)), file);
          } else {
            add_rows(std::move(shown), LockObject{}, "hashed/" + f.name, "unknown", file);
          }
        }
      }
    }
  }
  for (const auto& failure : daemons.failures()) {
    std::fprintf(stderr, "pbs-lockctl: %s: its holders are shown as pbs-lockfs\n", failure.c_str());
  }
  if (json) {
    std::printf("{\"locks\": [");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf(
          "%s\n  {\"store\": %s, \"ns\": %s, \"object\": %s, \"kind\": %s, \"mode\": %s, "
          "\"pid\": %d, \"command\": %s, \"uid\": %s, \"since\": %s, \"via\": %s, \"task\": %s, "
          "\"reason\": %s, \"path\": %s}",
          i ? "," : "", json_string(r.store).c_str(), json_string(r.ns).c_str(),
          json_string(r.object).c_str(), json_string(r.kind).c_str(),
          json_string(std::string(to_string(r.holder.mode))).c_str(), r.holder.pid,
          json_string(r.holder.command).c_str(),
          r.holder.uid == static_cast<uid_t>(-1) ? "null" : std::to_string(r.holder.uid).c_str(),
          json_string(iso_time(r.holder.since)).c_str(),
          json_string(r.holder.via_mount ? "mount" : "direct").c_str(),
          r.holder.task.empty() ? "null" : json_string(r.holder.task).c_str(),
          r.holder.reason.empty() ? "null" : json_string(r.holder.reason).c_str(),
          json_string(r.lock_file).c_str());
    }
    std::printf("%s]}\n", rows.empty() ? "" : "\n");
    return 0;
  }
  std::printf("%-10s %-12s %-36s %-9s %7s %-16s %-20s %-6s %s\n", "STORE", "NS", "OBJECT", "MODE",
              "PID", "COMMAND", "SINCE", "VIA", "TASK");
  for (const auto& r : rows) {
    std::printf("%-10s %-12s %-36s %-9s %7d %-16s %-20s %-6s %s\n", r.store.c_str(),
                r.ns.empty() ? "-" : r.ns.c_str(), r.object.c_str(),
                std::string(to_string(r.holder.mode)).c_str(), r.holder.pid,
                escape_controls(r.holder.command).c_str(), iso_time(r.holder.since).c_str(),
                r.holder.via_mount ? "mount" : "direct",
                r.holder.task.empty() ? "-" : escape_controls(r.holder.task).c_str());
  }
  return 0;
}

}  // namespace pbs::lockctl
