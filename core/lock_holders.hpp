// LockHolder: one holder of a PBS lock, found in /proc/locks (a direct holder) or reported by
// the mount (a holder through pbs-lockfs, shown as the real requester), with its PBS task.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lock.hpp"
#include "pbs_tasks.hpp"
#include "proc_locks.hpp"

namespace pbs {

struct LockHolder {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  std::string command;
  LockMode mode = LockMode::kShared;
  /// For direct holders: when the process started; zero (the epoch) when unknown.
  std::chrono::system_clock::time_point since;
  bool via_mount = false;
  std::string reason;
  std::string task;  ///< `UPID:… (type)` where a running PBS task matches
};

/// The holders of the file (`device`, `inode`) among `locks`, except locks taken by
/// `exclude_pid` (the mount daemon, whose holders it knows better). Adds the file's waiters to
/// `waiters` when given. A holder whose taker exited, with no process we may inspect sharing
/// its descriptor, is shown with the taker's pid, command `(exited)`, uid and time unknown.
std::vector<LockHolder> direct_holders(const std::vector<ProcLock>& locks, dev_t device,
                                       ino_t inode, pid_t exclude_pid = 0,
                                       std::size_t* waiters = nullptr);

/// Names the PBS task behind each direct holder that has one concerning `object`.
void match_tasks(std::vector<LockHolder>& holders, const std::vector<PbsTask>& tasks,
                 const LockObject& object);

/// One line, unambiguous whatever the texts hold: `pid=1234 uid=0 mode=exclusive
/// since=2026-01-01T00:00:00Z via=direct command="flock"`, then ` task="…"` and ` reason="…"`
/// where known; texts quoted and escaped (quote_text), `uid=?` when unknown.
std::string describe_holder(const LockHolder& holder);
/// The inverse of describe_holder; nothing for a line that is not one.
std::optional<LockHolder> parse_holder(std::string_view line);
/// `key=value key="quoted value" …` (describe_holder's syntax) as pairs; nothing when malformed.
using HolderFields = std::vector<std::pair<std::string, std::string>>;
std::optional<HolderFields> parse_fields(std::string_view line);
/// The holder that `fields` describe (keys it does not know are skipped); nothing without a pid.
std::optional<LockHolder> holder_from_fields(const HolderFields& fields);
/// `2026-01-01T00:00:00Z`, and back.
std::string iso_time(std::chrono::system_clock::time_point when);
std::chrono::system_clock::time_point parse_iso_time(const std::string& text);

}  // namespace pbs
