// Options: the daemon's command line, `pbs-lockfs [options] [SOURCE] MOUNTPOINT`.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "datastore_config.hpp"
#include "result.hpp"

namespace pbs::fs {

struct Options {
  bool foreground = false;
  bool debug = false;
  bool show_help = false;
  bool show_version = false;
  std::string mountpoint;
  std::string config = kDefaultDatastoreConfig;
  std::vector<DatastoreConfigEntry> stores;  ///< store=NAME:PATH; when given, config is unused
  std::string lock_root = "/run/proxmox-backup/locks";
  std::string old_locking_marker = "/run/proxmox-backup/old-locking";
  std::string lock_group = "backup";
  std::string tasks_file = "/var/log/proxmox-backup/tasks/active";  ///< PBS's running tasks
  std::string user = "backup";
  std::optional<double> wait_timeout;  ///< seconds
  /// Nodes the kernel may keep before old ones are dropped: about 170 bytes each (38 MiB), and
  /// room for the 200,000 nodes of a group of 100,000 snapshots, so that its `ls -l` drops none.
  std::size_t max_inodes = 229376;
  double attr_timeout = 1.0;           ///< seconds the kernel keeps a lock node's attributes
  std::optional<double> stop_grace;    ///< seconds a polite stop serves open handles at most
  bool open_locks = true;              ///< open=lock; off: only flock(2) on nodes locks
  bool public_listing = false;         ///< anybody may list (locking still needs the rights)
  bool watch = true;                   ///< watch the lock tree (LockTreeMonitor)
  std::size_t history_events = 65536;  ///< lock events remembered (LockHistory's capacity)
  unsigned max_threads = 16;
  std::vector<std::string> fuse_options;  ///< mount options passed on to libfuse
  /// --resume=FD: this program replaces an earlier image of the daemon (program_switch.hpp)
  /// whose state is in descriptor FD; nothing is mounted, the connection is taken over.
  std::optional<int> resume_fd;
  /// --check-resume=FD: only check that the state in FD could be resumed (exit 0) or say why
  /// not (exit 1); run by the daemon before it switches programs.
  std::optional<int> check_resume_fd;
};

/// Parses argv. Errors are one line, for "pbs-lockfs: <message>" and exit code 2.
Result<Options> parse_options(int argc, const char* const* argv);

/// The --help text.
const char* usage_text();

}  // namespace pbs::fs
