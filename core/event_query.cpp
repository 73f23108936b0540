// Selecting lock events; see event_query.hpp.
#include "event_query.hpp"

#include <charconv>
#include <ctime>

namespace pbs {

bool EventQuery::matches(const LockEvent& e) const {
  if (store && e.object.store != *store) return false;
  if (ns && !(e.object.ns == *ns)) return false;
  if (object) {
    const std::string group = e.object.group.rpath();
    const std::string mine =
        e.object.kind == LockKind::kGroup ? group : e.object.snapshot().rpath();
    if (*object != mine && *object != group) return false;
  }
  if (until && e.start > *until) return false;
  if (since && e.end && *e.end < *since) return false;
  return true;
}

namespace {

// `-90s`, `-30m`, `-2h`, `-1d`.
std::optional<LockEvent::Time> relative(std::string_view text, LockEvent::Time now) {
  if (text.size() < 3 || text.front() != '-') return std::nullopt;
  long n = 0;
  auto [end, ec] = std::from_chars(text.data() + 1, text.data() + text.size() - 1, n);
  if (ec != std::errc() || end != text.data() + text.size() - 1 || n < 0) return std::nullopt;
  switch (text.back()) {
    case 's':
      return now - std::chrono::seconds(n);
    case 'm':
      return now - std::chrono::minutes(n);
    case 'h':
      return now - std::chrono::hours(n);
    case 'd':
      return now - std::chrono::hours(24 * n);
    default:
      return std::nullopt;
  }
}

// strptime with `format` over all of `text`; true when it matched to the end.
bool whole(const std::string& text, const char* format, std::tm& tm) {
  const char* end = strptime(text.c_str(), format, &tm);
  return end != nullptr && *end == '\0';
}

}  // namespace

Result<LockEvent::Time> parse_admin_time(std::string_view text, LockEvent::Time now) {
  const std::string s(text);
  if (s == "now") return now;
  if (auto t = relative(text, now)) return *t;
  std::time_t now_t = std::chrono::system_clock::to_time_t(now);
  std::tm today{};
  localtime_r(&now_t, &today);
  std::tm tm{};
  // UTC, as the events file writes it.
  if (s.ends_with('Z')) {
    if (auto exact = parse_event_time(s)) return *exact;
    std::string without = s.substr(0, s.size() - 1);
    if (whole(without, "%Y-%m-%dT%H:%M:%S", tm) || whole(without, "%Y-%m-%dT%H:%M", tm))
      return std::chrono::system_clock::from_time_t(timegm(&tm));
    return Error{EINVAL, "not a time: '" + s + "'"};
  }
  bool date = false;
  for (const char* format :
       {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    tm = {};
    if (whole(s, format, tm)) {
      date = true;
      break;
    }
  }
  if (!date) {
    tm = {};
    bool time_only = whole(s, "%H:%M:%S", tm) || (tm = {}, whole(s, "%H:%M", tm));
    if (s == "today" || s == "yesterday") {
      tm = {};
      time_only = true;
    }
    if (!time_only) {
      return Error{EINVAL,
                   "not a time: '" + s +
                       "' (try 02:13, \"2026-12-02 02:13\", 2026-12-02T01:13:00Z, -2h, now)"};
    }
    tm.tm_year = today.tm_year;
    tm.tm_mon = today.tm_mon;
    tm.tm_mday = today.tm_mday - (s == "yesterday" ? 1 : 0);
  }
  tm.tm_isdst = -1;  // local time, whatever daylight saving says
  std::time_t t = mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return Error{EINVAL, "not a time: '" + s + "'"};
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace pbs
