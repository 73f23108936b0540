// The reload signal listener; see reload_signal.hpp.
#include "reload_signal.hpp"

#include <pthread.h>
#include <signal.h>

namespace pbs::fs {

ReloadSignal::ReloadSignal(std::function<void()> action)
    : action_(std::move(action)), thread_([this] { run(); }) {}

ReloadSignal::~ReloadSignal() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void ReloadSignal::run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (stopping_) return;
    action_();
  }
}

}  // namespace pbs::fs
