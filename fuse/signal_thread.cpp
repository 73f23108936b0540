// The signal listener thread; see signal_thread.hpp.
#include "signal_thread.hpp"

#include <pthread.h>
#include <signal.h>

namespace pbs::fs {

SignalThread::SignalThread(int signal, std::function<void()> action)
    : signal_(signal), action_(std::move(action)), thread_([this] { run(); }) {}

SignalThread::~SignalThread() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), signal_);
  thread_.join();
}

void SignalThread::run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal_);
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (stopping_) return;
    action_();
  }
}

}  // namespace pbs::fs
