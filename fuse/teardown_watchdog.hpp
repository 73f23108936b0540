// TeardownWatchdog: a bound on the daemon's end. Started once its FUSE session has ended (the
// kernel ended the connection, or a signal asked the daemon to end now), it gives the daemon
// `limit` to tear down: stop the FUSE workers, stop its own threads. A teardown stuck longer (a
// request that never returns, a thread that never joins) is logged with the phase it was in and
// every thread's kernel wait channel, and the process ends at once (exit code 1), which releases
// every lock it holds, as any process's end does. A daemon whose connection is gone must never sit
// on locks that nobody can release any more. No thread while the daemon serves.
//
//   TeardownWatchdog watchdog(std::chrono::seconds(5));
//   workers.run([&] { watchdog.start(); });   // when the session has ended
//   watchdog.phase("stopping the lock manager");
//   ...                                        // the destructor ends the watch
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs::fs {

class TeardownWatchdog {
 public:
  /// The exit code of a daemon ended by the watchdog.
  static constexpr int kExitCode = 1;

  explicit TeardownWatchdog(std::chrono::milliseconds limit);
  ~TeardownWatchdog();
  TeardownWatchdog(const TeardownWatchdog&) = delete;
  TeardownWatchdog& operator=(const TeardownWatchdog&) = delete;

  /// Starts the watch: from now the daemon has `limit` to end.
  Result<void> start();
  /// What the teardown does from now on, for the log line ("stopping the lock manager"); a
  /// string literal.
  void phase(const char* what) { phase_.store(what); }

 private:
  void run();

  std::chrono::milliseconds limit_;
  std::atomic<const char*> phase_{"stopping the FUSE workers (each finishes its request)"};
  UniqueFd done_fd_;
  std::thread thread_;
};

}  // namespace pbs::fs
