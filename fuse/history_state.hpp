// SavedHistory: the part of the handed-over state (program_state.hpp) that is the daemon's
// memory rather than the kernel's: the history ring, the metrics, the holds and waits going on
// (so that one ends in the next program image as the event it began as) and the lock tree
// monitor's model of direct holders with their events. Written and read in the state's codec.
#pragma once

#include <optional>

#include "lock_event_recorder.hpp"
#include "lock_tree_monitor.hpp"
#include "state_codec.hpp"

namespace pbs::fs {

struct SavedHistory {
  LockEventRecorder::Saved events;
  /// Nothing when the old image did not watch the lock tree.
  std::optional<LockTreeMonitor::Saved> monitor;
};

void write_history(StateWriter& out, const SavedHistory& history);
SavedHistory read_history(StateReader& in);

}  // namespace pbs::fs
