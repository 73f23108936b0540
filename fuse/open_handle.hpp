// OpenHandle: one open of a lock node (one open file description in the caller), with the real
// lock it holds, who opened it and the reason text its holder wrote.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "caller.hpp"
#include "lock.hpp"
#include "lock_holders.hpp"

namespace pbs::fs {

struct OpenHandle {
  LockRequest request;  ///< what this handle locks; request.mode is the mode asked at open
  std::string key;      ///< the lock file path below the lock root: one queue per key
  ProcessRef opener;    ///< the opener's process (pinned: its pid may be reused after it exits)
  uid_t uid = 0;

  std::mutex mutex;     ///< guards the fields below; taken after LockManager's mutex, never before
  std::string command;  ///< the opener's /proc/<pid>/comm, read when first shown (command_locked)
  Lock lock;            ///< held() while the handle holds the real lock
  std::chrono::system_clock::time_point since;
  std::string reason;  ///< written by the holder, at most kMaxReason bytes

  /// What `lock` holds, readable without `mutex`: 0 nothing, else 1 + LockMode.
  std::atomic<int> held{0};

  static constexpr std::size_t kMaxReason = 4096;

  /// Installs a newly taken lock (caller holds `mutex`).
  void take(Lock taken) {
    lock = std::move(taken);
    since = std::chrono::system_clock::now();
    held = 1 + static_cast<int>(lock.mode());
  }
  /// Releases the lock, keeping the handle (caller holds `mutex`).
  void drop() {
    held = 0;
    lock.release();
  }
  /// The opener's command, read from /proc the first time it is shown: not on every open's
  /// path (caller holds `mutex`).
  const std::string& command_locked() {
    // An opener that exited before it was first shown: its pid may be anybody's by now.
    if (command.empty()) command = opener.alive() ? process_command(opener.pid()) : "(exited)";
    return command;
  }
  /// This handle as a holder: the real requester (caller holds `mutex`).
  LockHolder holder_locked() {
    return {opener.pid(), uid, command_locked(), held_mode(), since, true, reason, {}};
  }
  bool holds() const { return held.load() != 0; }
  LockMode held_mode() const { return held.load() == 2 ? LockMode::kExclusive : LockMode::kShared; }
};

}  // namespace pbs::fs
