// SignalThread: runs an action on a thread of its own each time a signal arrives, so that the
// action may take locks and log, which a signal handler may not. The daemon has two:
// `systemctl reload pbs-lockfs` (SIGUSR1, forwarded by the mount monitor) re-reads the
// datastores, and `pbs-lockctl upgrade` (SIGUSR2) replaces the program (program_switch.hpp).
// The signal must be blocked in every thread of the process before this starts.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace pbs::fs {

class SignalThread {
 public:
  SignalThread(int signal, std::function<void()> action);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  void run();
  int signal_;
  std::function<void()> action_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace pbs::fs
