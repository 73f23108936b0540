// The metrics file at the mount root (`.pbs-lockfs-metrics`): LockMetrics in Prometheus's text
// format, with the daemon's own gauges (handles, descriptors, watches, memory, the history).
#include <dirent.h>
#include <unistd.h>

#include <fstream>

#include "filesystem.hpp"
#include "lock_tree_monitor.hpp"

namespace pbs::fs {
namespace {

std::uint64_t open_descriptors() {
  std::uint64_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      n += e->d_name[0] != '.';
    closedir(d);
  }
  return n > 0 ? n - 1 : 0;  // without opendir's own
}

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

std::string metrics_text(Filesystem& fs) {
  LockMetrics::Process p;
  p.open_handles = fs.lock_manager->total_handles();
  p.waiters = fs.lock_manager->total_waiters();
  p.file_descriptors = open_descriptors();
  p.inotify_watches = fs.monitor != nullptr ? fs.monitor->watches() : 0;
  p.resident_bytes = resident_bytes();
  const auto& history = fs.events->history();
  p.history_events = history.size();
  p.history_capacity = history.capacity();
  p.history_dropped = history.dropped();
  return fs.events->metrics().text(p);
}

}  // namespace pbs::fs
