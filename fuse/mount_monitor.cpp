// The mount monitor; see mount_monitor.hpp.
#include "mount_monitor.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace pbs::fs {
namespace {

volatile sig_atomic_t g_daemon = 0;

void forward(int signal) {
  if (g_daemon > 0) kill(g_daemon, signal);
}

}  // namespace

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                               (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

std::string fuse_mount_device(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, device;
  while (std::getline(in, line)) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    std::istringstream fields(line);
    std::string id, parent, majmin, root, point;
    fields >> id >> parent >> majmin >> root >> point;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (unescape_mountinfo(point) == mountpoint && fstype.rfind("fuse", 0) == 0) device = majmin;
  }
  return device;
}

int monitor_daemon(pid_t daemon, const std::string& mountpoint, const std::string& mount_device) {
  g_daemon = daemon;
  struct sigaction action {};
  action.sa_handler = forward;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1})
    sigaction(s, &action, nullptr);
  int status = 0;
  while (waitpid(daemon, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
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
