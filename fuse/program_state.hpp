// ProgramState: everything one program image of the daemon hands to the next when it replaces
// its program under the live mount (program_switch.hpp), and the code that takes it from a
// running Filesystem and installs it in a fresh one.
//
// What the kernel keeps for the connection must be served on unchanged: the inode numbers and
// lookup counts (the inode table), the file handles of open nodes with their held locks, of open
// directories with their listings and of open events/metrics files with their texts, and the
// FUSE_INIT exchange. Descriptors (the connection, every lock file, every opener's pidfd) are
// not copied: they stay open across execve(2) and the state names them by number.
//
// The format is versioned (kFormat): an image refuses a state of another format, and then the
// old image keeps serving (the pre-flight check runs the new program on the state first).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "contention_notifier.hpp"
#include "history_state.hpp"
#include "inode_table.hpp"
#include "lock.hpp"
#include "lock_manager.hpp"
#include "ops.hpp"
#include "result.hpp"
#include "snapshot_files.hpp"

namespace pbs::fs {

struct Filesystem;

/// One open lock node (OpenHandle) and the descriptors behind it.
struct SavedHandle {
  std::uint64_t fh = 0;
  LockRequest request;  ///< the lock file is request.object's
  pid_t opener = 0;
  int opener_pidfd = -1;  ///< -1: the opener was not pinned
  uid_t uid = 0;
  std::string command;
  int lock_fd = -1;  ///< -1: the handle holds no lock
  int old_style_fd = -1;
  LockMode held = LockMode::kShared;
  std::int64_t since_ns = 0;  ///< system clock
  std::string reason;
  std::uint64_t hold_event = 0;  ///< its hold in the history (0: none; format 2)
};

/// A request waiting for a lock: the lock manager's SavedWaiter (its `handle` left empty here),
/// and an open's handle as saved (fh 0, no lock).
struct SavedWait {
  SavedWaiter waiter;
  SavedHandle handle;
};

struct ProgramState {
  /// Bumped whenever the encoding or the meaning of a field changes. 2: the history, the
  /// metrics and the lock tree monitor's model added.
  static constexpr std::uint64_t kFormat = 2;
  /// The oldest format this program still reads (what it lacks starts empty).
  static constexpr std::uint64_t kOldestFormat = 1;

  std::uint64_t format = kFormat;  ///< what encode() writes; what decode() read
  std::string version;             ///< of the program that wrote it
  int connection_fd = -1;
  std::string init_request;
  std::string init_reply;
  InodeTable::SavedTable inodes;
  std::vector<SavedHandle> handles;
  std::uint64_t next_fh = 1;
  std::vector<SavedWait> waits;  ///< per lock file in queue order
  /// Holders told (or to tell) that somebody wants their lock, and their waiting polls.
  std::vector<ContentionNotifier::Saved> contention;
  SavedDirectories directories;
  SnapshotFiles::Saved texts;
  std::uint64_t upgrades = 0;  ///< program switches so far, this one included
  SavedHistory history;        ///< format 2

  std::string encode() const;
  static Result<ProgramState> decode(std::string_view data);
  /// Every descriptor the state names: they must stay open across the switch.
  std::vector<int> descriptors() const;
};

/// The state of `fs` (its workers paused, its lock manager and lock tree monitor frozen:
/// nothing changes it meanwhile), served on connection `connection_fd`.
Result<ProgramState> capture_state(Filesystem& fs, int connection_fd);
/// What install_state() leaves for later: the waiting requests, for
/// LockManager::resume_waiters() once the manager runs, and the lock tree monitor's model, for
/// LockTreeMonitor::restore() before it starts.
struct Handover {
  std::vector<SavedWaiter> waiters;
  std::optional<LockTreeMonitor::Saved> monitor;
};
/// Installs `state` in a fresh `fs` (lock manager built, not started): the inode table, the open
/// handles with their locks (taking over the descriptors), directories and texts, the history
/// and the metrics.
Result<Handover> install_state(Filesystem& fs, ProgramState state);
/// The checks install_state() makes, without taking any descriptor (the pre-flight child has
/// none of them).
Result<void> check_state(const ProgramState& state);

}  // namespace pbs::fs
