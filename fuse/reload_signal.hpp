// ReloadSignal: `systemctl reload pbs-lockfs` (SIGUSR1, forwarded by the mount monitor) runs an
// action on a thread of its own, so that the action may take locks and log, which a signal
// handler may not. SIGUSR1 must be blocked in every thread of the process before this starts.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace pbs::fs {

class ReloadSignal {
 public:
  explicit ReloadSignal(std::function<void()> action);
  ~ReloadSignal();
  ReloadSignal(const ReloadSignal&) = delete;
  ReloadSignal& operator=(const ReloadSignal&) = delete;

 private:
  void run();
  std::function<void()> action_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace pbs::fs
