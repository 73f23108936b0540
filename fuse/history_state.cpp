// The history part of the handed-over state; see history_state.hpp.
#include "history_state.hpp"

#include <chrono>
#include <cstring>
#include <unordered_map>

#include "state_fields.hpp"

namespace pbs::fs {
namespace {

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

// Calls `visit` with each map of the metrics, in the state's order.
template <typename Counts, typename Visit>
void each_series(Counts& m, const Visit& visit) {
  visit(m.held);
  visit(m.waiting);
  visit(m.waits_started);
  visit(m.waits_ended);
  visit(m.refused);
  visit(m.wait_seconds);
  visit(m.hold_seconds);
}

std::uint64_t nanoseconds(LockEvent::Time when) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count());
}

LockEvent::Time time_of(std::uint64_t ns) {
  return LockEvent::Time(std::chrono::duration_cast<LockEvent::Time::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
}

// The lock objects of the events, each written (and checked when read) once: a full history
// is 65536 events about a few objects, and reading an object back checks every name in it.
class ObjectTable {
 public:
  /// Numbers the objects of `events`.
  void add(const std::vector<LockEvent>& events) {
    for (const auto& event : events) {
      if (index_.try_emplace(&event.object, objects_.size()).second)
        objects_.push_back(&event.object);
    }
  }
  void write(StateWriter& out) const {
    out.number(objects_.size());
    for (const LockObject* object : objects_)
      write_object(out, *object);
  }
  std::uint64_t index(const LockObject& object) const { return index_.at(&object); }

 private:
  // By value: equal objects are one entry.
  struct Hash {
    std::size_t operator()(const LockObject* o) const {
      std::size_t h = std::hash<std::string>()(o->store) ^ std::hash<std::string>()(o->group.id) ^
                      (std::hash<std::string>()(o->time) << 1) ^
                      (static_cast<std::size_t>(o->kind) << 3) ^
                      (static_cast<std::size_t>(o->group.type) << 5);
      for (const auto& component : o->ns.components())
        h = h * 31 + std::hash<std::string>()(component);
      return h;
    }
  };
  struct Equal {
    bool operator()(const LockObject* a, const LockObject* b) const { return *a == *b; }
  };
  std::unordered_map<const LockObject*, std::uint64_t, Hash, Equal> index_;
  std::vector<const LockObject*> objects_;
};

std::vector<LockObject> read_objects(StateReader& in) {
  std::vector<LockObject> objects;
  for (auto n = in.count("event objects"); in.ok() && n > 0; --n)
    objects.push_back(read_object(in));
  return objects;
}

// Every field of `e`, times to the nanosecond and texts byte for byte.
void write_event(StateWriter& out, const LockEvent& e, const ObjectTable& objects) {
  out.number(e.id);
  out.number(static_cast<std::uint64_t>(e.type));
  out.number(objects.index(e.object));
  out.number(e.mode ? static_cast<std::uint64_t>(*e.mode) + 1 : 0);
  out.number(e.via_mount ? 1 : 0);
  out.number(static_cast<std::uint64_t>(e.pid));
  out.number(e.uid);
  out.text(e.command);
  out.text(e.task);
  out.text(e.reason);
  out.number(nanoseconds(e.start));
  out.number(e.end ? nanoseconds(*e.end) + 1 : 0);
  out.text(e.outcome);
  out.text(e.note);
}

LockEvent read_event(StateReader& in, const std::vector<LockObject>& objects) {
  LockEvent e;
  e.id = in.number("event id");
  e.type = enumerated(in, "event type", LockEvent::Type::kRefused);
  if (const auto object = in.number("event object"); object < objects.size()) {
    e.object = objects[object];
  } else {
    in.fail("state: event object " + std::to_string(object) + " is not in the table");
  }
  if (const auto mode = in.number("event mode"); mode != 0) {
    if (mode - 1 > static_cast<std::uint64_t>(LockMode::kExclusive)) {
      in.fail("state: event mode " + std::to_string(mode) + " is unknown");
    } else {
      e.mode = static_cast<LockMode>(mode - 1);
    }
  }
  e.via_mount = in.number("event via") != 0;
  e.pid = static_cast<pid_t>(in.number("event pid"));
  e.uid = static_cast<uid_t>(in.number("event uid"));
  e.command = in.text("event command");
  e.task = in.text("event task");
  e.reason = in.text("event reason");
  e.start = time_of(in.number("event start"));
  if (const auto end = in.number("event end"); end != 0) e.end = time_of(end - 1);
  e.outcome = in.text("event outcome");
  e.note = in.text("event note");
  return e;
}

}  // namespace

void write_history(StateWriter& out, const SavedHistory& history) {
  const auto& events = history.events;
  ObjectTable objects;
  objects.add(events.history.events);
  objects.add(events.ongoing);
  objects.write(out);
  out.number(events.history.events.size());
  for (const auto& event : events.history.events)
    write_event(out, event, objects);
  out.number(events.history.next_id);
  out.number(events.history.dropped);
  out.number(events.ongoing.size());
  for (const auto& event : events.ongoing)
    write_event(out, event, objects);
  out.number(events.unpublished);
  each_series(events.metrics, [&out](const auto& map) { write_map(out, map); });
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
  const std::vector<LockObject> objects = read_objects(in);
  auto n = in.count("history events");  // bounded by the bytes left
  events.history.events.reserve(n);
  for (; in.ok() && n > 0; --n)
    events.history.events.push_back(read_event(in, objects));
  events.history.next_id = in.number("next event id");
  events.history.dropped = in.number("events dropped");
  for (auto n = in.count("events going on"); in.ok() && n > 0; --n)
    events.ongoing.push_back(read_event(in, objects));
  events.unpublished = in.number("log lines dropped");
  each_series(events.metrics, [&in](auto& map) { read_map(in, map); });
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
