// The mount monitor; see mount_monitor.hpp.
#include "mount_monitor.hpp"

#include "mount_table.hpp"
#include "service_notify.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>

namespace pbs::fs {
namespace {

volatile sig_atomic_t g_daemon = 0;

constexpr long kFuseSuperMagic = 0x65735546;

void forward(int signal) {
  if (g_daemon > 0) kill(g_daemon, signal);
}

}  // namespace

std::string fuse_mount_device(const std::string& mountpoint) {
  std::string device;
  for (const auto& entry : read_mount_table()) {
    if (entry.mountpoint == mountpoint && entry.fstype.rfind("fuse", 0) == 0) device = entry.device;
  }
  return device;
}

int monitor_daemon(pid_t daemon, const std::string& mountpoint, const std::string& mount_device) {
  g_daemon = daemon;
  struct sigaction action {};
  action.sa_handler = forward;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    sigaction(s, &action, nullptr);
    sigaddset(&signals, s);
  }
  sigprocmask(SIG_UNBLOCK, &signals, nullptr);  // blocked by main() since before mounting
  // Ready once the mount answers (a statfs reaches the daemon), or the daemon is gone.
  int status = 0;
  bool exited = false;
  for (;;) {
    if (waitpid(daemon, &status, WNOHANG) == daemon) {
      exited = true;
      break;
    }
    // A signal must not interrupt the statfs: the kernel would send FUSE_INTERRUPT for a
    // request the daemon may have answered already, which libfuse then keeps (and leaks).
    // Held back for one round trip, the signal is forwarded right after.
    struct statfs st {};
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    int rc = statfs(mountpoint.c_str(), &st);
    sigprocmask(SIG_UNBLOCK, &signals, nullptr);
    if (rc == 0 && st.f_type == kFuseSuperMagic) {
      notify_service_manager("READY=1\nSTATUS=serving " + mountpoint);
      break;
    }
    usleep(10000);
  }
  while (!exited && waitpid(daemon, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  notify_service_manager("STOPPING=1");
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (WIFSIGNALED(status)) {
    spdlog::error("daemon (pid {}) was killed by signal {}; every lock it held is released", daemon,
                  WTERMSIG(status));
  }
  bool ours = !mount_device.empty() && fuse_mount_device(mountpoint) == mount_device;
  if (ours && umount2(mountpoint.c_str(), MNT_DETACH) == 0) {
    spdlog::info("unmounted {}", mountpoint);
  }
  return code;
}

}  // namespace pbs::fs
