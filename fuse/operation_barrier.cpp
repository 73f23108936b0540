// The operation barrier's bookkeeping; see operation_barrier.hpp.
#include "operation_barrier.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace pbs::fs {
namespace {
std::atomic<std::uint64_t> g_failures{0};

[[maybe_unused]] bool injected_here(const char* name) {
  static const char* injected = std::getenv("PBS_LOCKFS_INJECT_FAULT");
  return injected != nullptr && std::strcmp(injected, name) == 0;
}
}  // namespace

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
  if (injected_here(name)) throw std::runtime_error("fault injected for the test");
#endif
}

void inject_stall([[maybe_unused]] const char* name) {
#ifdef PBS_LOCKFS_FAULT_INJECTION
  if (!injected_here(name)) return;
  spdlog::warn("{}: stalled for the test", name);
  for (;;)
    pause();
#endif
}

}  // namespace pbs::fs
