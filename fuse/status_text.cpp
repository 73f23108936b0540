// The text a read of an open node returns (state, holders, waiters), the same facts as
// extended attributes, and the status file at the mount root (version and counters).
#include <ctime>
#include <sstream>

#include "filesystem.hpp"

namespace pbs::fs {

std::string iso_time(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string describe_holder(const Holder& h) {
  std::ostringstream out;
  out << "pid=" << h.pid << " command=" << h.command << " uid=";
  if (h.uid == static_cast<uid_t>(-1)) {
    out << "?";
  } else {
    out << h.uid;
  }
  out << " mode=" << to_string(h.mode) << " since=" << iso_time(h.since)
      << " via=" << (h.via_mount ? "mount" : "direct");
  if (!h.task.empty()) out << " task=" << h.task;
  if (!h.reason.empty()) {
    std::string reason = h.reason;
    while (!reason.empty() && reason.back() == '\n')
      reason.pop_back();
    for (char& c : reason) {
      if (c == '\n') c = ' ';
    }
    out << " reason=" << reason;
  }
  return out.str();
}

std::string node_status_text(Filesystem& fs, const Node& node) {
  std::ostringstream out;
  if (node.kind == NodeKind::kStatusFile) {
    out << "pbs-lockfs " << PBS_LOCKFS_VERSION << "\n"
        << "lock root: " << fs.root->path() << "\n"
        << "open handles: " << fs.locks->total_handles() << "\n"
        << "waiting: " << fs.locks->total_waiters() << "\n"
        << "inodes: " << fs.inodes.size() << "\n";
    return out.str();
  }
  NodeLockState state = node_lock_state(fs, node);
  out << "object: " << node.lock_object().describe() << "\n"
      << "state: " << state.state() << "\n"
      << "lock file: " << state.lock_file << "\n";
  for (const auto& h : state.holders)
    out << "holder: " << describe_holder(h) << "\n";
  out << "waiters: " << state.mount_waiters + state.direct_waiters << "\n";
  return out.str();
}

}  // namespace pbs::fs
