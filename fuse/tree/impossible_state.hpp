// Impossible states are loud: a state the code's own bookkeeping rules out (a FORGET of an inode
// never looked up, more forgets than lookups, the RELEASE of an unknown handle) means a defect
// somewhere. Release builds log it, count it (the status file shows the count) and go on with
// the safest repair; test builds (tests, sanitizers) abort, so that a test cannot pass over it.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

namespace pbs::fs {

/// Logs `what` as a defect, counts it, and aborts in test builds.
void impossible_state(const std::string& what);
/// How many impossible states were met since start.
std::uint64_t impossible_states();

}  // namespace pbs::fs
