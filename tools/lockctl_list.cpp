// `pbs-lockctl list`: every held lock under the lock root, with who holds it, how and since
// when, and the PBS task behind it. Works without the mount (reading /proc/locks and the lock
// tree); with a pbs-lockfs mount it shows the real requesters of locks held through it.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "lock_directory.hpp"
#include "lock_holders.hpp"
#include "lock_root.hpp"
#include "lockctl_commands.hpp"
#include "mount_table.hpp"
#include "safe_dir.hpp"

namespace pbs::lockctl {
namespace {

struct Row {
  std::string store, ns, object, kind, lock_file;
  LockHolder holder;
};

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// pbs-lockfs mountpoints.
std::vector<std::string> pbs_lockfs_mounts() {
  std::vector<std::string> out;
  for (const auto& entry : read_mount_table()) {
    if (entry.fstype == "fuse.pbs-lockfs") out.push_back(entry.mountpoint);
  }
  return out;
}

std::string get_xattr(const std::string& path, const char* name) {
  char buffer[65536];
  ssize_t n = getxattr(path.c_str(), name, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, n) : std::string();
}

// Holders through a mount of this lock root, as the mount reports them (the real requesters).
std::vector<LockHolder> mount_holders(const std::vector<std::string>& mounts,
                                      const LockObject& object, const std::string& lock_file) {
  for (const auto& mount : mounts) {
    std::string node = mount + "/" + object.mount_path();
    if (get_xattr(node, "user.pbs.lock_file") != lock_file) continue;
    std::vector<LockHolder> out;
    std::istringstream lines(get_xattr(node, "user.pbs.holders"));
    for (std::string line; std::getline(lines, line);) {
      LockHolder holder = parse_holder(line);
      if (holder.via_mount) out.push_back(std::move(holder));
    }
    return out;
  }
  return {};
}

}  // namespace

int run_list(const std::vector<std::string>& args) {
  std::string lock_root = kDefaultLockRoot, store_filter, ns_text, tasks_file = kDefaultActiveTasks;
  std::vector<std::string> mounts;
  bool json = false, ns_given = false, mounts_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string mount;
    if (arg == "--json") {
      json = true;
    } else if (arg == "--lock-root") {
      if (!value(lock_root)) return usage_error("--lock-root needs a value");
    } else if (arg == "--store") {
      if (!value(store_filter)) return usage_error("--store needs a value");
    } else if (arg == "--ns") {
      if (!value(ns_text)) return usage_error("--ns needs a value");
      ns_given = true;
    } else if (arg == "--tasks-file") {
      if (!value(tasks_file)) return usage_error("--tasks-file needs a value");
    } else if (arg == "--mount") {
      if (!value(mount)) return usage_error("--mount needs a value");
      mounts.push_back(trim_trailing_slashes(mount));
      mounts_given = true;
    } else {
      return usage_error("unknown argument " + arg + " (try --help)");
    }
  }
  auto ns_filter = Namespace::parse(ns_text);
  if (!ns_filter) return usage_error(ns_filter.error().message);
  if (!store_filter.empty()) {
    if (auto ok = check_store_name(store_filter); !ok) return usage_error(ok.error().message);
  }
  if (!mounts_given) mounts = pbs_lockfs_mounts();
  std::string root_path = trim_trailing_slashes(lock_root);
  int root = ::open(root_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::vector<Row> rows;
  std::optional<LockRoot> tree;  // only once it exists: listing never creates anything
  if (root >= 0) {
    if (auto opened = LockRoot::open(root_path, Owner{}, ""))
      tree.emplace(std::move(opened.value()));
  }
  if (root >= 0 && tree) {
    UniqueFd root_fd(root);
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
        auto objects = list_lock_files(*tree, store.name, ns);
        if (!objects) continue;
        for (const auto& object : *objects) {
          std::string file = root_path + "/" + object.lock_path().relative();
          struct stat st {};
          if (lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
          auto holders = direct_holders(proc_locks ? *proc_locks : std::vector<ProcLock>{},
                                        st.st_dev, st.st_ino);
          // The mount daemon's own flocks stand for its users: ask the mount who they are.
          std::vector<LockHolder> shown;
          bool mount_held = false;
          for (auto& h : holders) {
            if (h.command == "pbs-lockfs") {
              mount_held = true;
            } else {
              shown.push_back(std::move(h));
            }
          }
          if (mount_held) {
            auto via_mount = mount_holders(mounts, object, file);
            if (via_mount.empty()) {
              for (auto& h : holders) {
                if (h.command == "pbs-lockfs") shown.push_back(h);
              }
            }
            shown.insert(shown.end(), via_mount.begin(), via_mount.end());
          }
          match_tasks(shown, tasks, object);
          for (auto& h : shown) {
            rows.push_back({store.name, ns.join('/'), object.rpath(),
                            std::string(to_string(object.kind)), file, std::move(h)});
          }
        }
      }
    }
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
                r.holder.command.c_str(), iso_time(r.holder.since).c_str(),
                r.holder.via_mount ? "mount" : "direct",
                r.holder.task.empty() ? "-" : r.holder.task.c_str());
  }
  return 0;
}

}  // namespace pbs::lockctl
