// The short text a read of an open node returns: state, holders and waiters. The status file at
// the mount root returns the daemon's version and counters instead.
#include <ctime>
#include <sstream>

#include "filesystem.hpp"

namespace pbs::fs {
namespace {

std::string iso_time(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace

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
  LockObject object = node.lock_object();
  std::string key = object.lock_path().relative();
  auto handles = fs.locks->handles(key);
  int shared = 0, exclusive = 0;
  std::ostringstream holders;
  for (const auto& h : handles) {
    if (!h->holds()) continue;
    (h->held_mode() == LockMode::kExclusive ? exclusive : shared)++;
    std::lock_guard hold(h->mutex);
    holders << "holder: pid " << h->pid << " (" << h->command << ") uid " << h->uid << " "
            << to_string(h->held_mode()) << " since " << iso_time(h->since) << " via mount";
    if (!h->reason.empty()) {
      std::string reason = h->reason;
      while (!reason.empty() && reason.back() == '\n')
        reason.pop_back();
      holders << " reason: " << reason;
    }
    holders << "\n";
  }
  out << "object: " << object.describe() << "\n"
      << "state: "
      << (exclusive ? "exclusive"
          : shared  ? "shared"
                    : "free")
      << "\n"
      << "lock file: " << fs.root->absolute(object.lock_path()) << "\n"
      << holders.str() << "waiters: " << fs.locks->waiter_count(key) << "\n";
  return out.str();
}

}  // namespace pbs::fs
