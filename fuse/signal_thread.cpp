// The signal listener thread; see signal_thread.hpp.
#include "signal_thread.hpp"

#include <pthread.h>
#include <signal.h>

namespace pbs::fs {

SignalThread::SignalThread(std::map<int, std::function<void()>> actions)
    : actions_(std::move(actions)), thread_([this] { run(); }) {}

SignalThread::~SignalThread() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), actions_.begin()->first);
  thread_.join();
}

void SignalThread::run() {
  sigset_t set;
  sigemptyset(&set);
  for (const auto& [signal, action] : actions_)
    sigaddset(&set, signal);
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (stopping_) return;
    if (auto found = actions_.find(signal); found != actions_.end()) found->second();
  }
}

}  // namespace pbs::fs
