// The history part of the handed-over state; see history_state.hpp.
#include "history_state.hpp"

#include <cstring>

#include "state_fields.hpp"

namespace pbs::fs {
namespace {

using Metrics = LockMetrics::Counts;

std::uint64_t bits_of(double value) {
  std::uint64_t bits = 0;
  static_assert(sizeof bits == sizeof value);
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

double double_of(std::uint64_t bits) {
  double value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// A key of store, kind and so on: its texts.
template <typename... Texts>
void write_key(StateWriter& out, const std::tuple<Texts...>& key) {
  std::apply([&out](const auto&... text) { (out.text(text), ...); }, key);
}

template <typename... Texts>
std::tuple<Texts...> read_key(StateReader& in) {
  std::tuple<Texts...> key;
  std::apply([&in](auto&... text) { ((text = in.text("metric label")), ...); }, key);
  return key;
}

void write_value(StateWriter& out, std::uint64_t value) {
  out.number(value);
}
void write_value(StateWriter& out, std::int64_t value) {
  out.number(static_cast<std::uint64_t>(value));
}
void write_value(StateWriter& out, const LockMetrics::Histogram& h) {
  for (auto n : h.buckets)
    out.number(n);
  out.number(h.count);
  out.number(bits_of(h.sum));
}

void read_value(StateReader& in, std::uint64_t& value) {
  value = in.number("metric value");
}
void read_value(StateReader& in, std::int64_t& value) {
  value = static_cast<std::int64_t>(in.number("metric value"));
}
void read_value(StateReader& in, LockMetrics::Histogram& h) {
  for (auto& n : h.buckets)
    n = in.number("histogram bucket");
  h.count = in.number("histogram count");
  h.sum = double_of(in.number("histogram sum"));
}

template <typename... Texts, typename Value>
void write_map(StateWriter& out, const std::map<std::tuple<Texts...>, Value>& map) {
  out.number(map.size());
  for (const auto& [key, value] : map) {
    write_key(out, key);
    write_value(out, value);
  }
}

template <typename... Texts, typename Value>
void read_map(StateReader& in, std::map<std::tuple<Texts...>, Value>& map) {
  for (auto n = in.count("metric series"); in.ok() && n > 0; --n) {
    auto key = read_key<Texts...>(in);
    read_value(in, map[std::move(key)]);
  }
}

}  // namespace

void write_history(StateWriter& out, const SavedHistory& history) {
  const auto& events = history.events;
  out.number(events.history.events.size());
  for (const auto& event : events.history.events)
    write_event(out, event);
  out.number(events.history.next_id);
  out.number(events.history.dropped);
  out.number(events.ongoing.size());
  for (const auto& event : events.ongoing)
    write_event(out, event);
  out.number(events.unpublished);
  const Metrics& m = events.metrics;
  write_map(out, m.held);
  write_map(out, m.waiting);
  write_map(out, m.waits_started);
  write_map(out, m.waits_ended);
  write_map(out, m.refused);
  write_map(out, m.wait_seconds);
  write_map(out, m.hold_seconds);
  out.number(history.monitor ? 1 : 0);
  if (!history.monitor) return;
  out.number(history.monitor->files.size());
  for (const auto& file : history.monitor->files) {
    out.text(file.lock_file);
    out.number(file.identity ? 1 : 0);
    out.number(file.identity ? file.identity->first : 0);
    out.number(file.identity ? file.identity->second : 0);
    out.number(file.direct.size());
    for (const auto& d : file.direct) {
      out.number(static_cast<std::uint64_t>(d.pid));
      out.number(static_cast<std::uint64_t>(d.mode));
      out.number(d.waiting ? 1 : 0);
    }
  }
  out.number(history.monitor->events.size());
  for (const auto& e : history.monitor->events) {
    out.text(e.lock_file);
    out.number(static_cast<std::uint64_t>(e.pid));
    out.number(e.wait ? 1 : 0);
    out.number(e.id);
  }
}

SavedHistory read_history(StateReader& in) {
  SavedHistory history;
  auto& events = history.events;
  for (auto n = in.count("history events"); in.ok() && n > 0; --n)
    events.history.events.push_back(read_event(in));
  events.history.next_id = in.number("next event id");
  events.history.dropped = in.number("events dropped");
  for (auto n = in.count("events going on"); in.ok() && n > 0; --n)
    events.ongoing.push_back(read_event(in));
  events.unpublished = in.number("log lines dropped");
  Metrics& m = events.metrics;
  read_map(in, m.held);
  read_map(in, m.waiting);
  read_map(in, m.waits_started);
  read_map(in, m.waits_ended);
  read_map(in, m.refused);
  read_map(in, m.wait_seconds);
  read_map(in, m.hold_seconds);
  if (in.number("monitor") == 0) return history;
  auto& monitor = history.monitor.emplace();
  for (auto n = in.count("tracked lock files"); in.ok() && n > 0; --n) {
    DirectLockTracker::SavedFile file;
    file.lock_file = in.text("tracked lock file");
    const bool known = in.number("identity known") != 0;
    const auto dev = static_cast<dev_t>(in.number("device"));
    const auto ino = static_cast<ino_t>(in.number("inode"));
    if (known) file.identity = std::make_pair(dev, ino);
    for (auto m = in.count("direct users"); in.ok() && m > 0; --m) {
      DirectLockTracker::SavedFile::Direct d;
      d.pid = static_cast<pid_t>(in.number("direct pid"));
      d.mode = enumerated(in, "direct mode", LockMode::kExclusive);
      d.waiting = in.number("direct waiting") != 0;
      file.direct.push_back(d);
    }
    monitor.files.push_back(std::move(file));
  }
  for (auto n = in.count("direct events"); in.ok() && n > 0; --n) {
    LockTreeMonitor::Saved::OpenEvent e;
    e.lock_file = in.text("direct event file");
    e.pid = static_cast<pid_t>(in.number("direct event pid"));
    e.wait = in.number("direct event kind") != 0;
    e.id = in.number("direct event id");
    monitor.events.push_back(std::move(e));
  }
  return history;
}

}  // namespace pbs::fs
