// Command-line parsing for pbs-lockfs; see options.hpp and `pbs-lockfs --help`.
#include "options.hpp"

#include "lock_root.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

namespace pbs::fs {
namespace {

// Options mount(8), fstab and mount.fuse3 may hand us that mean nothing to the daemon.
bool is_ignored_mount_option(std::string_view o) {
  return o == "nofail" || o == "_netdev" || o == "auto" || o == "noauto" || o == "defaults" ||
         o == "user" || o == "nouser" || o == "users" || o == "owner" || o.starts_with("x-") ||
         o.starts_with("comment=") || o == "allow_other";
}

// Generic mount options passed on to the kernel through libfuse.
bool is_passed_mount_option(std::string_view o) {
  for (std::string_view flag :
       {"rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "atime", "noatime",
        "relatime", "norelatime", "strictatime", "sync", "async", "dirsync"}) {
    if (o == flag) return true;
  }
  return o.starts_with("fsname=") || o.starts_with("subtype=") || o.starts_with("max_read=");
}

bool parse_bool(std::string_view value, bool& out) {
  if (value == "yes" || value == "1" || value == "true" || value == "on") return out = true, true;
  if (value == "no" || value == "0" || value == "false" || value == "off") return out = false, true;
  return false;
}

Error bad(const std::string& message) {
  return Error{EINVAL, message};
}

Result<void> apply_mount_option(Options& options, std::string_view option) {
  auto eq = option.find('=');
  std::string_view key = option.substr(0, eq);
  std::string value = eq == std::string_view::npos ? "" : std::string(option.substr(eq + 1));
  bool has_value = eq != std::string_view::npos;
  auto need_value = [&]() -> Result<void> {
    if (!has_value || value.empty()) return bad("option " + std::string(key) + " needs a value");
    return {};
  };
  auto need_absolute = [&]() -> Result<void> {
    if (auto ok = need_value(); !ok) return ok;
    if (value.front() != '/') return bad(std::string(key) + " must be an absolute path");
    return {};
  };
  if (key == "config") {
    if (auto ok = need_absolute(); !ok) return ok;
    options.config = value;
  } else if (key == "store") {
    auto entry = parse_store_option(value);
    if (!entry) return entry.error();
    for (const auto& known : options.stores) {
      // Which path would win is a guess an admin should not have to make.
      if (known.name == entry->name) {
        return Error{EINVAL, "store=" + entry->name + " given twice (" + known.path + " and " +
                                 entry->path + ")"};
      }
    }
    options.stores.push_back(*entry);
  } else if (key == "lock_root") {
    if (auto ok = need_absolute(); !ok) return ok;
    options.lock_root = value;
  } else if (key == "tasks_file") {
    if (auto ok = need_absolute(); !ok) return ok;
    options.tasks_file = value;
  } else if (key == "old_locking_marker") {
    if (auto ok = need_absolute(); !ok) return ok;
    options.old_locking_marker = value;
  } else if (key == "lock_group" || key == "user") {
    if (auto ok = need_value(); !ok) return ok;
    (key == "user" ? options.user : options.lock_group) = value;
  } else if (key == "wait_timeout" || key == "stop_grace") {
    double seconds = -1;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) ||
        seconds <= 0 || seconds > 86400 * 365) {
      return bad(std::string(key) + " must be a number of seconds greater than 0");
    }
    (key == "wait_timeout" ? options.wait_timeout : options.stop_grace) = seconds;
  } else if (key == "attr_timeout") {
    double seconds = -1;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) ||
        seconds < 0 || seconds > 60) {
      return bad("attr_timeout must be a number of seconds from 0 to 60");
    }
    options.attr_timeout = seconds;
  } else if (key == "max_inodes") {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < 1000) {
      return bad("max_inodes must be a whole number of at least 1000");
    }
    options.max_inodes = n;
  } else if (key == "max_threads") {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < 2 || n > 256) {
      return bad("max_threads must be a whole number from 2 to 256");
    }
    options.max_threads = n;
  } else if (key == "history_events") {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n > 10000000) {
      return bad("history_events must be a whole number from 0 to 10000000");
    }
    options.history_events = n;
  } else if (key == "open_locks" || key == "public_listing" || key == "watch") {
    bool flag = false;
    if (!parse_bool(has_value ? value : "yes", flag)) {
      return bad(std::string(key) + " must be yes or no");
    }
    (key == "open_locks"       ? options.open_locks
     : key == "public_listing" ? options.public_listing
                               : options.watch) = flag;
  } else if (key == "debug") {
    options.debug = true;
  } else if (key == "default_permissions" || key == "allow_root") {
    return bad("option " + std::string(key) +
               " is not supported: the displayed modes are lock state, not access control");
  } else if (is_passed_mount_option(option)) {
    options.fuse_options.emplace_back(option);
  } else if (!is_ignored_mount_option(option)) {
    return bad("unknown option '" + std::string(option) + "'");
  }
  return {};
}

Result<void> apply_option_list(Options& options, std::string_view list) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view option = list.substr(0, comma);
    if (!option.empty()) {
      if (auto ok = apply_mount_option(options, option); !ok) return ok;
    }
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  return {};
}

}  // namespace

Result<Options> parse_options(int argc, const char* const* argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      options.show_help = true;
    } else if (arg == "-V" || arg == "--version") {
      options.show_version = true;
    } else if (arg == "-f") {
      options.foreground = true;
    } else if (arg == "-d") {
      options.debug = true;
    } else if (arg == "-o") {
      if (i + 1 >= argc) return bad("-o needs a list of options");
      if (auto ok = apply_option_list(options, argv[++i]); !ok) return ok.error();
    } else if (arg.starts_with("-o")) {
      if (auto ok = apply_option_list(options, arg.substr(2)); !ok) return ok.error();
    } else if (arg.starts_with("--store=")) {
      if (auto ok = apply_mount_option(options, "store=" + std::string(arg.substr(8))); !ok) {
        return ok.error();
      }
    } else if (arg.starts_with("--resume=") || arg.starts_with("--check-resume=")) {
      const bool check = arg.starts_with("--check-resume=");
      int fd = -1;
      const std::string_view value = arg.substr(arg.find('=') + 1);
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), fd);
      if (error != std::errc() || end != value.data() + value.size() || fd < 0)
        return bad("--resume and --check-resume take a descriptor number");
      (check ? options.check_resume_fd : options.resume_fd) = fd;
    } else if (arg.starts_with("-")) {
      return bad("unknown option '" + std::string(arg) + "' (try --help)");
    } else {
      positional.emplace_back(arg);
    }
  }
  if (options.show_help || options.show_version) return options;
  // mount.fuse3 runs `pbs-lockfs SOURCE MOUNTPOINT -o …`: the source is accepted and ignored.
  if (positional.empty() || positional.size() > 2) {
    return bad("expected a mountpoint: pbs-lockfs [options] MOUNTPOINT (try --help)");
  }
  options.mountpoint = trim_trailing_slashes(positional.back());
  if (options.mountpoint.empty() || options.mountpoint.front() != '/') {
    return bad("the mountpoint must be an absolute path");
  }
  return options;
}

const char* usage_text() {
  return "usage: pbs-lockfs [options] [SOURCE] MOUNTPOINT\n"
         "\n"
         "Mounts Proxmox Backup Server's datastores as a tree in which opening a node takes the\n"
         "real PBS lock (read-only: shared, write: exclusive, O_NONBLOCK: fail at once).\n"
         "\n"
         "  -f                     stay in the foreground\n"
         "  -d                     debug log (every lock taken and released)\n"
         "  -h, --help             this text\n"
         "  -V, --version          the version\n"
         "  -o OPT[,OPT...]        options:\n"
         "     config=FILE         datastore.cfg (default /etc/proxmox-backup/datastore.cfg)\n"
         "     store=NAME:PATH     serve this datastore (repeatable; replaces config=)\n"
         "     lock_root=DIR       PBS lock root (default /run/proxmox-backup/locks)\n"
         "     old_locking_marker=FILE  (default /run/proxmox-backup/old-locking)\n"
         "     lock_group=GROUP    members may lock and remove (default backup)\n"
         "     tasks_file=FILE     PBS's running tasks (default "
         "/var/log/proxmox-backup/tasks/active)\n"
         "     user=USER           run as USER once mounted (default backup)\n"
         "     wait_timeout=SECS   blocking opens fail with ETIMEDOUT after SECS\n"
         "     attr_timeout=SECS   how long stat may show a lock taken outside the mount late\n"
         "                         (default 1; 0: never cached; ls -l is always fresh)\n"
         "     stop_grace=SECS     after SIGTERM, serve open handles at most SECS (default: until\n"
         "                         the last is closed or a second SIGTERM)\n"
         "     open_locks=no       opening takes no lock; only flock(2) on nodes does\n"
         "     public_listing      anybody may list the tree (locking still needs the rights)\n"
         "     max_threads=N       FUSE worker threads (default 16)\n"
         "     max_inodes=N        nodes the kernel may keep looked up (default 229376, about\n"
         "                         38 MiB): bounds the daemon's memory however big the\n"
         "                         datastore\n"
         "     history_events=N    lock events remembered (default 65536, about 28 MiB at\n"
         "                         most; 0: none); read with pbs-lockctl history\n"
         "     watch=no            do not watch the lock tree (stat then shows locks taken\n"
         "                         outside the mount up to attr_timeout late; no direct\n"
         "                         holds in the history)\n"
         "     ro, nosuid, nodev, noexec, fsname=, subtype=, ... generic mount options\n";
}

}  // namespace pbs::fs
