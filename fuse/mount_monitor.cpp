// The mount monitor; see mount_monitor.hpp.
#include "mount_monitor.hpp"

#include "service_notify.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>

namespace pbs::fs {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;
using Clock = std::chrono::steady_clock;

// Detaches our mount `ours` at `mountpoint` lazily; false when it is not there (unmounted by
// somebody else, and perhaps replaced by a new instance's mount, which is never touched).
bool detach(const std::string& mountpoint, const std::optional<MountIdentity>& ours) {
  if (!ours || mount_identity(mountpoint) != ours) return false;
  return umount2(mountpoint.c_str(), MNT_DETACH) == 0;
}

// Waits up to `timeout` for one of `signals`; 0 when none came.
int wait_for_signal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>(timeout.count() % 1000) * 1000000};
  int signal = sigtimedwait(&signals, nullptr, &ts);
  return signal > 0 ? signal : 0;
}

}  // namespace

int monitor_daemon(pid_t daemon, const MonitorSettings& settings) {
  // Every signal the monitor acts on stays blocked (main() blocked them before mounting) and is
  // taken with sigtimedwait: no handlers, and no signal ever interrupts the readiness statfs
  // (the kernel would send a FUSE_INTERRUPT for a request already answered, which libfuse keeps).
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD})
    sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const std::string& mountpoint = settings.mountpoint;

  bool ready = false;
  int stop_requests = 0;
  std::optional<Clock::time_point> grace_ends;
  int status = 0;
  for (;;) {
    if (waitpid(daemon, &status, WNOHANG) == daemon) break;
    if (!ready) {
      struct statfs st {};
      if (statfs(mountpoint.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic) {
        notify_service_manager("READY=1\nSTATUS=serving " + mountpoint);
        ready = true;
      }
    }
    auto wait = ready ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(10);
    if (grace_ends) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*grace_ends - Clock::now());
      if (left.count() <= 0) {
        spdlog::warn("stop: grace period over; ending the daemon, which releases every lock");
        kill(daemon, SIGTERM);
        grace_ends.reset();
        continue;
      }
      wait = std::min(wait, left);
    }
    int signal = wait_for_signal(signals, wait);
    if (signal == SIGUSR2) {
      // Upgrade in place (pbs-lockctl upgrade signals the daemon itself; this is for systemctl).
      spdlog::info("upgrade (signal {}): the daemon replaces its program", signal);
      kill(daemon, SIGUSR2);
    } else if (signal == SIGUSR1 || signal == SIGHUP) {
      // Reload, as SIGHUP means to every other daemon an admin knows.
      spdlog::info("reload (signal {}): re-reading the datastore configuration", signal);
      kill(daemon, SIGUSR1);
    } else if (signal == SIGTERM || signal == SIGINT) {
      if (++stop_requests == 1) {
        // A polite stop: nobody can open anything new, but every open handle (and so every
        // held lock) stays served; when the last one is closed the kernel ends the connection
        // and the daemon exits by itself.
        notify_service_manager("STOPPING=1\nSTATUS=serving open handles until they are closed");
        bool detached = detach(mountpoint, settings.mount);
        spdlog::info("stop: {} {}; open handles keep their locks until closed ({})", mountpoint,
                     detached ? "detached" : "was not mounted",
                     settings.stop_grace
                         ? fmt::format("at most {} s",
                                       static_cast<double>(settings.stop_grace->count()) / 1000.0)
                         : std::string("signal again to end now"));
        if (settings.stop_grace) grace_ends = Clock::now() + *settings.stop_grace;
      } else {
        spdlog::info("stop: ending the daemon now, which releases every lock");
        kill(daemon, SIGTERM);
      }
    }
  }
  notify_service_manager("STOPPING=1");
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (WIFSIGNALED(status)) {
    spdlog::error("daemon (pid {}) was killed by signal {}; every lock it held is released", daemon,
                  WTERMSIG(status));
  }
  if (detach(mountpoint, settings.mount)) spdlog::info("unmounted {}", mountpoint);
  return code;
}

}  // namespace pbs::fs
