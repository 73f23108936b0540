// TeardownWatchdog: a bound on the daemon's end. Once its FUSE session has ended (the kernel
// ended the connection, or a signal asked the daemon to end now), the daemon has `limit` to
// tear down: join libfuse's workers, stop its own threads. A teardown stuck longer (a request
// that never returns, a thread that never joins) is logged with the phase it was in and every
// thread's kernel wait channel, and the process ends at once (exit code 1), which releases every
// lock it holds, as any process's end does. A daemon whose connection is gone must never sit on
// locks that nobody can release any more; the CI run that found a daemon still holding a lock 10 s
// after its connection was aborted is why this exists.
//
//   TeardownWatchdog watchdog(se, std::chrono::seconds(5));
//   watchdog.start();
//   workers.run();
//   watchdog.loop_ended();
//   watchdog.phase("stopping the lock manager");
//   ...                                   // the destructor ends the watch
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "result.hpp"
#include "unique_fd.hpp"

struct fuse_session;

namespace pbs::fs {

class TeardownWatchdog {
 public:
  /// The exit code of a daemon ended by the watchdog.
  static constexpr int kExitCode = 1;

  TeardownWatchdog(fuse_session* se, std::chrono::milliseconds limit);
  ~TeardownWatchdog();
  TeardownWatchdog(const TeardownWatchdog&) = delete;
  TeardownWatchdog& operator=(const TeardownWatchdog&) = delete;

  /// Starts the watching thread (it wakes once a second while the session serves).
  Result<void> start();
  /// What the teardown does from now on, for the log line ("stopping the lock manager"); a
  /// string literal.
  void phase(const char* what) { phase_.store(what); }
  /// The FUSE loop has returned: the bound runs from here at the latest.
  void loop_ended() { loop_ended_.store(true); }

 private:
  void run();
  bool ending() const;

  fuse_session* se_;
  std::chrono::milliseconds limit_;
  std::atomic<const char*> phase_{
      "ending the FUSE loop (its worker threads finish their requests)"};
  std::atomic<bool> loop_ended_{false};
  UniqueFd done_fd_;
  std::thread thread_;
};

}  // namespace pbs::fs
