// Stop signals of the serving daemon; see stop_signals.hpp.
#include "stop_signals.hpp"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <signal.h>

#include <atomic>

namespace pbs::fs {
namespace {

std::atomic<fuse_session*> g_session{nullptr};
std::atomic<int> g_received{0};

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGHUP};

extern "C" void on_stop_signal(int signal) {
  g_received.store(signal);
  if (fuse_session* se = g_session.load()) fuse_session_exit(se);
}

void set_action(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
}

}  // namespace

StopSignals::StopSignals(fuse_session* se) {
  g_received.store(0);
  g_session.store(se);
  for (int signal : kStopSignals)
    set_action(signal, on_stop_signal);
  set_action(SIGPIPE, SIG_IGN);
}

StopSignals::~StopSignals() {
  for (int signal : kStopSignals)
    set_action(signal, SIG_DFL);
  g_session.store(nullptr);
}

int StopSignals::received() {
  return g_received.load();
}

}  // namespace pbs::fs
