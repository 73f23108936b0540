// Encodings of the state's values; see state_fields.hpp.
#include "state_fields.hpp"

#include <chrono>

namespace pbs::fs {
namespace {

std::uint64_t nanoseconds(LockEvent::Time when) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count());
}

LockEvent::Time time_of(std::uint64_t ns) {
  return LockEvent::Time(std::chrono::duration_cast<LockEvent::Time::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
}

}  // namespace

std::uint64_t maybe(int value) {
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(value) + 1);
}

int maybe_fd(StateReader& in, const char* what) {
  const std::uint64_t value = in.number(what);
  if (value > 1u << 30) in.fail(std::string("state: ") + what + " out of range");
  return static_cast<int>(value) - 1;
}

Namespace read_namespace(StateReader& in) {
  auto ns = Namespace::parse(in.text("namespace"));
  if (!ns) {
    in.fail("state: namespace: " + ns.error().message);
    return {};
  }
  return *ns;
}

void write_object(StateWriter& out, const LockObject& object) {
  out.number(static_cast<std::uint64_t>(object.kind));
  out.text(object.store);
  out.text(object.ns.join('/'));
  out.text(to_string(object.group.type));
  out.text(object.group.id);
  out.text(object.time);
}

// Read back through LockObject::parse: every name checked as for a request.
LockObject read_object(StateReader& in) {
  const auto kind = enumerated(in, "lock kind", LockKind::kManifest);
  const std::string store = in.text("lock store");
  Namespace ns = read_namespace(in);
  std::string path = in.text("lock type");
  path += "/" + in.text("lock id");
  const std::string time = in.text("lock time");
  if (kind != LockKind::kGroup) path += "/" + time;
  if (!in.ok()) return {};
  auto object = LockObject::parse(store, std::move(ns), path, kind == LockKind::kManifest);
  if (!object) {
    in.fail("state: lock object " + path + ": " + object.error().message);
    return {};
  }
  return *object;
}

void write_event(StateWriter& out, const LockEvent& e) {
  out.number(e.id);
  out.number(static_cast<std::uint64_t>(e.type));
  write_object(out, e.object);
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

LockEvent read_event(StateReader& in) {
  LockEvent e;
  e.id = in.number("event id");
  e.type = enumerated(in, "event type", LockEvent::Type::kRefused);
  e.object = read_object(in);
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

}  // namespace pbs::fs
