// Counting (and in test builds, stopping at) impossible states; see impossible_state.hpp.
#include "impossible_state.hpp"

#include <atomic>
#include <cstdlib>

namespace pbs::fs {
namespace {
std::atomic<std::uint64_t> g_count{0};
}

void impossible_state(const std::string& what) {
  ++g_count;
  spdlog::error("impossible state (a defect; please report it): {}", what);
#ifdef PBS_LOCKFS_FAULT_INJECTION
  spdlog::default_logger()->flush();
  std::abort();
#endif
}

std::uint64_t impossible_states() {
  return g_count.load();
}

}  // namespace pbs::fs
