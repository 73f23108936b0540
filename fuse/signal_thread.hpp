// SignalThread: runs an action on a thread of its own each time one of its signals arrives, so
// that the action may take locks and log, which a signal handler may not. The daemon has one for
// two signals: `systemctl reload pbs-lockfs` (SIGUSR1, forwarded by the mount monitor) re-reads
// the datastores, and `pbs-lockctl upgrade` (SIGUSR2) replaces the program
// (program_switch.hpp). The signals must be blocked in every thread of the process before this
// starts.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <thread>

namespace pbs::fs {

class SignalThread {
 public:
  /// `actions`: what to run for each signal.
  explicit SignalThread(std::map<int, std::function<void()>> actions);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  void run();
  std::map<int, std::function<void()>> actions_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace pbs::fs
