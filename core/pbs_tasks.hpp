// PBS's running tasks (/var/log/proxmox-backup/tasks/active, one UPID a line), to tell which
// task of proxmox-backup-proxy holds a lock:
//
//   UPID:<node>:<pid hex8>:<pstart hex8>:<task id hex>:<start hex8>:<type>:<worker id>:<authid>:
//
// The worker id is escaped like lock names: `store1\x3avm-100` is `store1:vm/100`.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lock_object.hpp"

namespace pbs {

inline constexpr const char* kDefaultActiveTasks = "/var/log/proxmox-backup/tasks/active";

struct PbsTask {
  std::string upid;
  pid_t pid = 0;
  std::string type;       ///< `backup`, `reader`, `prune`, `verify`, …
  std::string worker_id;  ///< unescaped: `store1:vm/100`
};

/// Parses one UPID; nothing for anything else.
std::optional<PbsTask> parse_upid(std::string_view text);
/// The tasks in `path` (missing or unreadable: none).
std::vector<PbsTask> read_active_tasks(const std::string& path);
/// Whether the task's worker id names `object`'s store and group (a heuristic: PBS's worker ids
/// are `store:type/id`, with a namespace or a snapshot time in some task types).
bool task_concerns(const PbsTask& task, const LockObject& object);

}  // namespace pbs
