// The teardown watchdog; see teardown_watchdog.hpp.
#include "teardown_watchdog.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "result.hpp"

namespace pbs::fs {
namespace {

using Clock = std::chrono::steady_clock;

std::string first_line(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// Every thread of this process with where it waits in the kernel: what a stuck teardown is
// stuck on.
void log_threads() {
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
    std::string wchan = first_line(task.path() / "wchan");
    spdlog::error("  thread {} ({}): {}", task.path().filename().string(),
                  first_line(task.path() / "comm"),
                  wchan.empty() || wchan == "0" ? "running" : "waiting in " + wchan);
  }
}

}  // namespace

TeardownWatchdog::TeardownWatchdog(std::chrono::milliseconds limit) : limit_(limit) {}

TeardownWatchdog::~TeardownWatchdog() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(done_fd_.get(), &one, sizeof one);
  thread_.join();
}

Result<void> TeardownWatchdog::start() {
  done_fd_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done_fd_) return sys_error("eventfd for", "the teardown watchdog");
  thread_ = std::thread([this] { run(); });
  return {};
}

void TeardownWatchdog::run() {
  // Woken by the destructor when torn down in time; EINTR cannot come (signals go elsewhere), but
  // a wake-up before the limit is simply waited for again.
  const auto deadline = Clock::now() + limit_;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd done{done_fd_.get(), POLLIN, 0};
    if (left.count() > 0 && poll(&done, 1, static_cast<int>(left.count())) > 0) return;
    if (Clock::now() < deadline) continue;
    spdlog::error(
        "teardown stuck for {} ms while {}: ending the process now, which releases every lock "
        "it holds",
        limit_.count(), phase_.load());
    log_threads();
    _exit(kExitCode);
  }
}

}  // namespace pbs::fs
