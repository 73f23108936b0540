// Helpers that lock from another process; see other_process.hpp.
#include "other_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace pbs::test {

bool other_process_can_flock(const std::string& path, int operation) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) _exit(2);
    _exit(flock(fd, operation | LOCK_NB) == 0 ? 0 : 1);
  }
  return wait_exit_code(pid) == 0;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

FlockHolder::FlockHolder(const std::string& path, int operation) {
  int ready[2], release_fds[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_ = fork();
  if (pid_ == 0) {
    close(ready[0]);
    close(release_fds[1]);  // or the parent's close would never reach us as EOF
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char status = (fd >= 0 && flock(fd, operation) == 0) ? 'y' : 'n';
    [[maybe_unused]] auto w = write(ready[1], &status, 1);
    char byte;
    [[maybe_unused]] auto r = read(release_fds[0], &byte, 1);  // EOF when the parent releases
    _exit(0);
  }
  close(ready[1]);
  close(release_fds[0]);
  release_pipe_ = release_fds[1];
  char status = 'n';
  [[maybe_unused]] auto r = read(ready[0], &status, 1);
  close(ready[0]);
  if (status != 'y') {
    release();
    throw std::runtime_error("FlockHolder could not lock " + path);
  }
}

FlockHolder::~FlockHolder() {
  release();
}

void FlockHolder::release() {
  if (pid_ <= 0) return;
  // Killing, not only closing the pipe: children forked later may hold copies of its write end.
  kill(pid_, SIGKILL);
  close(release_pipe_);
  wait_exit_code(pid_);
  pid_ = -1;
}

CommandOutput run_command(const std::string& command) {
  CommandOutput ran;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return ran;
  char buffer[65536];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe))
    ran.out.append(buffer, n);
  int status = pclose(pipe);
  ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return ran;
}

pid_t spawn_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Its own process group, so that kill_and_reap also ends what it started (flock's command).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  return pid;
}

void kill_and_reap(pid_t pid) {
  kill(-pid, SIGKILL);
  wait_exit_code(pid);
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

OrphanedHold::OrphanedHold(const std::function<bool()>& take) {
  int report[2];
  if (pipe(report) != 0) return;
  pid_t taker_pid = fork();
  if (taker_pid == 0) {
    if (!take()) _exit(1);
    pid_t keeper_pid = fork();
    if (keeper_pid == 0) {
      close(report[0]);
      close(report[1]);
      pause();  // keeps the inherited descriptors until killed
      _exit(0);
    }
    [[maybe_unused]] auto n = write(report[1], &keeper_pid, sizeof keeper_pid);
    _exit(0);
  }
  close(report[1]);
  pid_t keeper_pid = 0;
  bool reported =
      read(report[0], &keeper_pid, sizeof keeper_pid) == static_cast<ssize_t>(sizeof keeper_pid);
  close(report[0]);
  int code = wait_exit_code(taker_pid);
  if (reported && code == 0) {
    taker = taker_pid;
    keeper = keeper_pid;
  }
}

OrphanedHold::~OrphanedHold() {
  if (keeper > 0) {
    kill(keeper, SIGKILL);
    waitpid(keeper, nullptr, 0);  // reaped by init otherwise: it is not our child
  }
}

}  // namespace pbs::test
