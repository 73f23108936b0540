// The mount monitor; see mount_monitor.hpp.
#include "mount_monitor.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <spdlog/spdlog.h>

namespace pbs::fs {
namespace {

volatile sig_atomic_t g_daemon = 0;

void forward(int signal) {
  if (g_daemon > 0) kill(g_daemon, signal);
}

}  // namespace

int monitor_daemon(pid_t daemon, const std::string& mountpoint, dev_t mount_dev) {
  g_daemon = daemon;
  struct sigaction action {};
  action.sa_handler = forward;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaction(s, &action, nullptr);
  int status = 0;
  while (waitpid(daemon, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (WIFSIGNALED(status)) {
    spdlog::error("daemon (pid {}) was killed by signal {}; every lock it held is released",
                  daemon, WTERMSIG(status));
  }
  struct stat st {};
  bool ours = stat(mountpoint.c_str(), &st) == 0 ? st.st_dev == mount_dev : errno == ENOTCONN;
  if (ours && umount2(mountpoint.c_str(), MNT_DETACH) == 0) {
    spdlog::info("unmounted {}", mountpoint);
  }
  return code;
}

}  // namespace pbs::fs
