// Replacing the daemon's program under the live mount; see program_switch.hpp.
#include "program_switch.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "filesystem.hpp"
#include "lock_tree_monitor.hpp"
#include "program_state.hpp"
#include "unique_fd.hpp"

extern char** environ;

namespace pbs::fs {
namespace {

// How long a switch waits for the lock manager to answer what it has granted or ended.
constexpr std::chrono::seconds kBusyLimit{2};

Result<void> write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("write", "the state");
    done += static_cast<std::size_t>(n);
  }
  if (lseek(fd, 0, SEEK_SET) != 0) return sys_error("rewind", "the state");
  return {};
}

Result<void> set_close_on_exec(int fd, bool on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return sys_error("fcntl", "descriptor " + std::to_string(fd));
  flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (fcntl(fd, F_SETFD, flags) != 0) return sys_error("fcntl", "descriptor " + std::to_string(fd));
  return {};
}

/// Sets close-on-exec on every descriptor above stderr.
void close_all_on_exec() {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Without close_range (a seccomp filter, an old kernel): one by one.
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd > 2 && fd != own) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  closedir(dir);
}

/// The last non-empty line of `text`: what a failing program said last.
std::string last_line(const std::string& text) {
  std::size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return {};
  std::size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start + 1));
}

}  // namespace

namespace {
std::string now_text() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return text;
}
}  // namespace

void ProgramRecord::started(std::string path) {
  MutexLock lock(mutex_);
  path_ = std::move(path);
}

void ProgramRecord::resumed(std::uint64_t attempts, const std::string& from_version) {
  MutexLock lock(mutex_);
  attempts_ = attempts;
  last_ = "done at " + now_text() + " (from pbs-lockfs " + from_version + ")";
}

std::uint64_t ProgramRecord::attempt() {
  MutexLock lock(mutex_);
  return ++attempts_;
}

void ProgramRecord::refused(const std::string& why) {
  MutexLock lock(mutex_);
  last_ = "refused at " + now_text() + ": " + why;
}

std::string ProgramRecord::status_lines() const {
  MutexLock lock(mutex_);
  return "program: " + path_ + "\nupgrade attempts: " + std::to_string(attempts_) +
         "\nlast upgrade: " + last_ + "\n";
}

ProgramSwitch::ProgramSwitch(std::string program, std::vector<std::string> arguments)
    : program_(std::move(program)), arguments_(std::move(arguments)) {}

std::string ProgramSwitch::running_program() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return {};
  return {path, static_cast<std::size_t>(n)};
}

Result<void> ProgramSwitch::preflight(int state_fd) const {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return sys_error("pipe", "pre-flight");
  UniqueFd out(pipe_fds[0]);
  UniqueFd in(pipe_fds[1]);
  // The child writes what it says into the pipe and sees the state as descriptor 3 (4 when the
  // state is 3 here: a dup2 onto itself would leave it close-on-exec).
  const int child_state_fd = state_fd == 3 ? 4 : 3;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, in.get(), STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&actions, state_fd, child_state_fd);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> args{program_, "--check-resume=" + std::to_string(child_state_fd)};
  args.insert(args.end(), arguments_.begin(), arguments_.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = -1;
  int error = posix_spawn(&child, program_.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) return Error{error, "cannot run " + program_ + ": " + error_text(error)};
  in.reset();
  std::string said;
  const auto deadline = std::chrono::steady_clock::now() + preflight_limit_;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out.get(), POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[4096];
    ssize_t n = read(out.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child is done (or closed its output)
    if (said.size() < 65536) said.append(chunk, static_cast<std::size_t>(n));
  }
  if (timed_out) kill(child, SIGKILL);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Error{ETIMEDOUT, program_ + " --check-resume did not finish within " +
                                std::to_string(preflight_limit_.count()) + " s"};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::string why = last_line(said);
  if (why.empty())
    why = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                            : "signal " + std::to_string(WTERMSIG(status));
  return Error{EPROTO, program_ + " cannot take over: " + why};
}

Error ProgramSwitch::replace(Filesystem& fs, int connection_fd, std::uint64_t attempts) {
  // The lock manager's thread may be answering a request it has just granted or ended (it
  // answers outside its lock): the state cannot name that one, so wait until it is answered.
  const auto busy_until = std::chrono::steady_clock::now() + kBusyLimit;
  for (;;) {
    // Nothing may be granted from here to the execve: an answer the state does not know of
    // would leave a handle the next image cannot serve (its lock closed with this image).
    // The monitor first: while it looks, it reads the lock manager's handles.
    if (fs.monitor != nullptr) fs.monitor->freeze();
    fs.lock_manager->freeze();
    Error why = replace_frozen(fs, connection_fd, attempts);
    fs.lock_manager->thaw();
    if (fs.monitor != nullptr) fs.monitor->thaw();
    if (why.code != EBUSY || std::chrono::steady_clock::now() >= busy_until) return why;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Error ProgramSwitch::replace_frozen(Filesystem& fs, int connection_fd, std::uint64_t attempts) {
  auto state = capture_state(fs, connection_fd);
  if (!state) return state.error();
  state->upgrades = attempts;
  UniqueFd memory(memfd_create("pbs-lockfs-state", MFD_CLOEXEC));
  if (!memory) return sys_error("memfd_create", "the state");
  if (auto ok = write_all(memory.get(), state->encode()); !ok) return ok.error();
  if (auto ok = preflight(memory.get()); !ok) return ok.error();

  // From here the descriptors must reach the new image; on failure they go back to
  // close-on-exec (a later child must not inherit locks).
  // Every other descriptor closes with this image, also one a thread has open without
  // close-on-exec at this moment (a /proc read): the next image would never close it.
  close_all_on_exec();
  std::vector<int> kept = state->descriptors();
  kept.push_back(memory.get());
  auto restore = [&kept] {
    for (int fd : kept) {
      if (auto ok = set_close_on_exec(fd, true); !ok)
        spdlog::warn("after the failed switch: {}", ok.error().message);
    }
  };
  for (int fd : kept) {
    if (auto ok = set_close_on_exec(fd, false); !ok) {
      restore();
      return ok.error();
    }
  }
  std::vector<std::string> args{program_, "--resume=" + std::to_string(memory.get())};
  args.insert(args.end(), arguments_.begin(), arguments_.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  spdlog::info(
      "replacing the program with {} ({} handle(s), {} waiting request(s), {} node(s) carried "
      "over)",
      program_, state->handles.size(), state->waits.size(), state->inodes.entries.size());
  spdlog::default_logger()->flush();
  // Stop signals stay pending across the execve (their handlers do not survive it): the new
  // image takes them once it has its own.
  sigset_t stops;
  sigset_t before;
  sigemptyset(&stops);
  for (int signal : {SIGTERM, SIGINT, SIGHUP})
    sigaddset(&stops, signal);
  pthread_sigmask(SIG_BLOCK, &stops, &before);
  execve(program_.c_str(), argv.data(), environ);
  Error failed = sys_error("execve", program_);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  restore();
  return failed;
}

}  // namespace pbs::fs
