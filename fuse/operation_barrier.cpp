// The operation barrier's bookkeeping; see operation_barrier.hpp.
#include "operation_barrier.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace pbs::fs {
namespace {
std::atomic<std::uint64_t> g_failures{0};
}

void operation_failed(const char* name, const char* what, Request& req) noexcept {
  ++g_failures;
  try {
    spdlog::error("{}: unexpected failure ({}): {}; the daemon goes on serving", name, what,
                  req ? "answered EIO" : "already answered");
  } catch (...) {
  }
  req.fail();
}

std::uint64_t operation_failures() {
  return g_failures.load();
}

void inject_fault([[maybe_unused]] const char* name) {
#ifdef PBS_LOCKFS_FAULT_INJECTION
  static const char* injected = std::getenv("PBS_LOCKFS_INJECT_FAULT");
  if (injected != nullptr && std::strcmp(injected, name) == 0)
    throw std::runtime_error("fault injected for the test");
#endif
}

}  // namespace pbs::fs
