// LockEvent: one thing that happened to a PBS lock, as the daemon's history remembers it and the
// journal, the events file and `pbs-lockctl history` show it: a hold (who, from when to when),
// a wait through the mount (and how it ended), or a refused attempt.
//
//   {"id":17,"type":"hold","store":"store1","ns":"","kind":"snapshot",
//    "object":"vm/100/2026-12-02T02:00:00Z","mode":"exclusive","via":"direct","pid":812,
//    "uid":34,"command":"proxmox-backup-proxy","task":"UPID:pbs:…:prune:…",
//    "start":"2026-12-02T02:13:07.412Z","end":null,"outcome":""}
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lock.hpp"
#include "lock_object.hpp"

namespace pbs {

struct LockEvent {
  using Time = std::chrono::system_clock::time_point;
  enum class Type { kHold, kWait, kRefused };

  std::uint64_t id = 0;  ///< given by the history, rising
  Type type = Type::kHold;
  LockObject object;
  std::optional<LockMode> mode;  ///< unknown for a refused direct attempt
  bool via_mount = false;
  pid_t pid = 0;  ///< 0: unknown (inotify, which sees direct attempts, does not say who)
  uid_t uid = static_cast<uid_t>(-1);
  std::string command;
  std::string task;  ///< `UPID:…` when the holder is a PBS task
  std::string reason;
  Time start;
  std::optional<Time> end;  ///< nothing while the hold or the wait goes on
  /// How it ended. Hold: `released`; wait: `granted`, `EINTR`, `ETIMEDOUT`, `EDEADLK`, `EBADF`;
  /// refused: `EWOULDBLOCK` (through the mount), `refused` (a direct open-and-close while held)
  /// or `gave up waiting` (a direct waiter that closed without the lock).
  std::string outcome;
  std::string note;  ///< anything the reader must know, e.g. why the pid is unknown

  bool ongoing() const { return !end.has_value(); }
};

std::string_view to_string(LockEvent::Type type);
std::optional<LockEvent::Type> event_type_from(std::string_view text);

/// `2026-12-02T02:13:07.412Z` (UTC, milliseconds), and back (also without milliseconds).
std::string iso_time_ms(LockEvent::Time when);
std::optional<LockEvent::Time> parse_event_time(std::string_view text);

/// One JSON object on one line (the events file's format, above), without a newline.
std::string event_json(const LockEvent& event);
/// The inverse; nothing for a line that is not an event.
std::optional<LockEvent> parse_event_json(std::string_view line);

/// One log line with every known field: `hold store1:vm/100 mode=exclusive via=direct pid=812
/// command="proxmox-backup-proxy" start=… end=… outcome=released`.
std::string describe_event(const LockEvent& event);

}  // namespace pbs
