// EventQuery: which lock events an admin asks about (`pbs-lockctl history`, `why`): a store, a
// namespace, an object, and a time window; and the times admins type.
//
//   --since 02:13          today at 02:13, local time
//   --since "2026-12-02 02:13:00"   --since 2026-12-02T01:13:00Z   --since -2h   --until now
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lock_event.hpp"
#include "result.hpp"

namespace pbs {

struct EventQuery {
  std::optional<std::string> store;
  std::optional<Namespace> ns;
  /// `vm/100` (the group lock and every snapshot and manifest of the group) or
  /// `vm/100/2026-12-02T02:00:00Z` (the snapshot and its manifest).
  std::optional<std::string> object;
  /// Events that overlap [since, until]: a hold from 02:00 to 02:30 matches --since 02:13.
  std::optional<LockEvent::Time> since, until;

  bool matches(const LockEvent& event) const;
};

/// Parses a time as admins type it (see above), relative to `now` and in the local time zone.
Result<LockEvent::Time> parse_admin_time(std::string_view text, LockEvent::Time now);

}  // namespace pbs
