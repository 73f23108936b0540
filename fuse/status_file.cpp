// What a read of an open node returns: the status file's counters at the mount root, or a lock
// node's status text (from the tree model).
#include <unistd.h>

#include <sstream>

#include "filesystem.hpp"
#include "impossible_state.hpp"
#include "lock_tree_monitor.hpp"
#include "node_status_text.hpp"
#include "operation_barrier.hpp"

namespace pbs::fs {

std::string open_node_text(Filesystem& fs, const Node& node) {
  if (node.kind != NodeKind::kStatusFile) return node_status_text(fs, node);
  std::ostringstream out;
  out << "pbs-lockfs " << PBS_LOCKFS_VERSION << "\n"
      << "pid: " << getpid() << "\n"
      << fs.program.status_lines() << "lock root: " << fs.lock_root->path() << "\n"
      << "open handles: " << fs.lock_manager->total_handles() << "\n"
      << "waiting: " << fs.lock_manager->total_waiters() << "\n"
      << "timers: " << fs.lock_manager->pending_timers() << "\n"
      << "inodes: " << fs.inodes.size() << "\n"
      << "out of descriptors or memory: " << fs.shortage.count() << " request(s)\n"
      << "lock root replaced: " << fs.lock_root->replacements() << " time(s)\n"
      << "unexpected failures: " << operation_failures() << " (answered EIO, logged)\n"
      << "impossible states: " << impossible_states() << " (defects, logged)\n"
      << "history: " << fs.events->history().size() << " of " << fs.events->history().capacity()
      << " events, " << fs.events->history().dropped() << " dropped\n"
      << "watched lock directories: " << (fs.monitor ? fs.monitor->watches() : 0) << "\n"
      << "lock files tracked: " << (fs.monitor ? fs.monitor->tracked() : 0) << "\n";
  return out.str();
}

}  // namespace pbs::fs
