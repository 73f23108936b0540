// The daemon under test; see mounted_daemon.hpp.
#include "mounted_daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "mount_table.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {
constexpr long kFuseSuperMagic = 0x65735546;
}

bool is_fuse_mount(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic;
}

std::string mount_status(const std::string& mount, const std::string& name) {
  std::ifstream in(mount + "/.pbs-lockfs");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ": ", 0) == 0) return line.substr(name.size() + 2);
  }
  return {};
}

long status_value(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

MountedDaemon::MountedDaemon(std::string mountpoint, std::vector<std::string> options,
                             std::string log_path, std::chrono::seconds watchdog,
                             std::vector<std::string> environment,
                             std::function<void()> before_exec, std::string program)
    : mountpoint_(std::move(mountpoint)), log_path_(std::move(log_path)) {
  std::string joined;
  for (const auto& o : options)
    joined += (joined.empty() ? "" : ",") + o;
  monitor_ = fork();
  if (monitor_ == 0) {
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    dup2(log, 1);
    dup2(log, 2);
    setpgid(0, 0);
    for (auto& variable : environment)
      putenv(variable.data());
    if (before_exec) before_exec();
    execl(program.c_str(), "pbs-lockfs", "-f", "-d", "-o", joined.c_str(), mountpoint_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  mounted_ = eventually(
                 [&] {
                   int status;
                   if (waitpid(monitor_, &status, WNOHANG) == monitor_) {
                     monitor_ = -1;
                     return true;  // exited: stop waiting
                   }
                   return is_fuse_mount(mountpoint_);
                 },
                 std::chrono::seconds(15)) &&
             monitor_ > 0;
  watchdog_ = std::thread([this, watchdog] {
    std::unique_lock lock(mutex_);
    if (!stopped_.wait_for(lock, watchdog, [this] { return done_; })) {
      fprintf(stderr, "watchdog: test took longer than %llds, aborting the FUSE connection\n",
              static_cast<long long>(watchdog.count()));
      abort_connection();
    }
  });
}

MountedDaemon::~MountedDaemon() {
  stop();
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  stopped_.notify_all();
  watchdog_.join();
}

pid_t MountedDaemon::daemon_pid() const {
  std::ifstream in("/proc/" + std::to_string(monitor_) + "/task/" + std::to_string(monitor_) +
                   "/children");
  pid_t child = -1;
  in >> child;
  return child;
}

std::optional<int> MountedDaemon::wait_for_exit(std::chrono::milliseconds timeout) {
  if (monitor_ <= 0 || exit_code_) return exit_code_;
  eventually(
      [&] {
        int status;
        if (waitpid(monitor_, &status, WNOHANG) != monitor_) return false;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      },
      timeout);
  return exit_code_;
}

int MountedDaemon::stop() {
  if (monitor_ <= 0) return -1;
  if (!exit_code_) kill(monitor_, SIGTERM);
  int code = wait_for_exit(std::chrono::seconds(10)).value_or(-1);
  bool exited = exit_code_.has_value();
  if (!exited) {
    abort_connection();
    kill(-monitor_, SIGKILL);
    waitpid(monitor_, nullptr, 0);
  }
  // The monitor must have unmounted; clean up anyway so that a failure cannot wedge later tests.
  auto mounts = read_mount_table();
  left_mounted_ = std::any_of(mounts.begin(), mounts.end(),
                              [&](const MountEntry& e) { return e.mountpoint == mountpoint_; });
  if (left_mounted_) {
    std::string cmd = "umount -l '" + mountpoint_ + "' 2>/dev/null";
    [[maybe_unused]] int rc = system(cmd.c_str());
  }
  monitor_ = -1;
  return code;
}

void MountedDaemon::abort_connection() {
  // The connection's number is the mount's minor device number.
  for (const auto& entry : read_mount_table()) {
    if (entry.mountpoint != mountpoint_) continue;
    std::string minor = entry.device.substr(entry.device.find(':') + 1);
    std::ofstream abort("/sys/fs/fuse/connections/" + minor + "/abort");
    abort << "1";
  }
  if (monitor_ > 0) kill(-monitor_, SIGKILL);
}

std::string MountedDaemon::log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace pbs::test
