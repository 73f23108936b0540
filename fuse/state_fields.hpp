// The encodings of the values the handed-over state is made of (program_state.hpp), beyond the
// codec's numbers and texts: descriptors that may be absent, enumerations, namespaces and lock
// objects (read back through the same checks as a request's names).
#pragma once

#include <cstdint>
#include <string>

#include "lock_object.hpp"
#include "names.hpp"
#include "state_codec.hpp"

namespace pbs::fs {

/// A value that may be -1 (a descriptor), written shifted by one.
std::uint64_t maybe(int value);
int maybe_fd(StateReader& in, const char* what);

/// An enumeration's value, refused beyond `last`.
template <typename Enum>
Enum enumerated(StateReader& in, const char* what, Enum last) {
  const std::uint64_t value = in.number(what);
  if (value > static_cast<std::uint64_t>(last)) {
    in.fail(std::string("state: ") + what + " " + std::to_string(value) + " is unknown");
    return Enum{};
  }
  return static_cast<Enum>(value);
}

Namespace read_namespace(StateReader& in);

void write_object(StateWriter& out, const LockObject& object);
LockObject read_object(StateReader& in);

}  // namespace pbs::fs
