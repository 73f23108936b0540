// Encodings of the state's values; see state_fields.hpp.
#include "state_fields.hpp"

namespace pbs::fs {

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

}  // namespace pbs::fs
