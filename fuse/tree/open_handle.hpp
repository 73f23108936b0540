// OpenHandle: one open of a lock node (one open file description in the caller), with the real
// lock it holds, who opened it and the reason text its holder wrote.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "lock.hpp"
#include "lock_file.hpp"
#include "lock_holders.hpp"
#include "mutex.hpp"
#include "process_ref.hpp"

namespace pbs::fs {

struct OpenHandle {
  LockRequest request;    ///< what this handle locks; request.mode is the mode asked at open
  std::string lock_file;  ///< the lock file's path below the lock root: one queue per file
  ProcessRef opener;      ///< the opener's process (pinned: its pid may be reused after it exits)
  uid_t uid = 0;
  /// The file handle the kernel was given: a number from a counter, never an address, so that it
  /// can name this handle in another program image of the daemon too. Set once, before the
  /// kernel has it.
  std::uint64_t fh = 0;

  /// Guards the fields below. Taken after LockManager's queue mutex, never before; nothing is
  /// answered to libfuse while it is held.
  Mutex mutex;
  /// The opener's /proc/<pid>/comm, read when first shown (command_locked).
  std::string command PBS_GUARDED_BY(mutex);
  Lock lock PBS_GUARDED_BY(mutex);  ///< held() while the handle holds the real lock
  std::chrono::system_clock::time_point since PBS_GUARDED_BY(mutex);
  std::string reason PBS_GUARDED_BY(mutex);  ///< written by the holder, at most kMaxReason bytes

  /// What `lock` holds, kept beside it for readers without `mutex` (getattr, listings).
  enum class Holding : int { kNothing, kShared, kExclusive };
  std::atomic<Holding> holding{Holding::kNothing};

  static constexpr std::size_t kMaxReason = 4096;

  /// Installs a newly taken lock.
  void take(Lock taken) PBS_REQUIRES(mutex) {
    lock = std::move(taken);
    since = std::chrono::system_clock::now();
    holding = holding_of(lock.mode());
  }
  /// Installs a lock another program image of the daemon took at `taken`.
  void adopt(Lock taken, std::chrono::system_clock::time_point taken_at) PBS_REQUIRES(mutex) {
    lock = std::move(taken);
    since = taken_at;
    holding = holding_of(lock.mode());
  }
  /// Converts the held lock (flock(2) on one file description); a failed conversion has let go,
  /// as with flock(2).
  Result<void> convert(LockMode mode) PBS_REQUIRES(mutex) {
    auto converted = lock.convert(mode);
    if (converted)
      holding = holding_of(mode);
    else
      drop();
    return converted;
  }
  /// Releases the lock, keeping the handle.
  void drop() PBS_REQUIRES(mutex) {
    holding = Holding::kNothing;
    lock.release();
  }
  /// The opener's command, read from /proc the first time it is shown: not on every open's
  /// path.
  const std::string& command_locked() PBS_REQUIRES(mutex) {
    // An opener that exited before it was first shown: its pid may be anybody's by now.
    if (command.empty()) command = opener.alive() ? process_command(opener.pid()) : "(exited)";
    return command;
  }
  /// This handle as a holder: the real requester.
  LockHolder holder_locked() PBS_REQUIRES(mutex) {
    return {opener.pid(), uid, command_locked(), held_mode(), since, true, reason, {}};
  }
  /// Whether the lock is held on the file now at the absolute `lock_file` (PBS's double-stat): a
  /// hold on a lock file destroyed or replaced under it locks nothing any more.
  bool holds_file_at(const std::string& lock_file) const PBS_REQUIRES(mutex) {
    return lock.held() && lock_file_at_path(lock.file_fd(), lock_file);
  }
  bool holds() const { return holding.load() != Holding::kNothing; }
  LockMode held_mode() const {
    return holding.load() == Holding::kExclusive ? LockMode::kExclusive : LockMode::kShared;
  }

 private:
  static Holding holding_of(LockMode mode) {
    return mode == LockMode::kExclusive ? Holding::kExclusive : Holding::kShared;
  }
};

}  // namespace pbs::fs
