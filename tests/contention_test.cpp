// poll(2) on a held node: a holder is woken (POLLPRI) within 50 ms when somebody waits for its
// lock through the mount or a direct attempt is refused, its node's text then says who, and a
// holder nobody contends is never woken.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `fd` for POLLPRI up to `timeout`; how long until it came, or -1 ms when it did not.
std::chrono::milliseconds until_wanted(int fd, std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  pollfd p{fd, POLLPRI, 0};
  int n = poll(&p, 1, static_cast<int>(timeout.count()));
  if (n != 1 || !(p.revents & POLLPRI)) return -1ms;
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

std::string text_of(int fd) {
  char buffer[8192];
  ssize_t n = pread(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// A process that opens `path` (waiting for its lock) and is not a descendant of this one:
// the holder here is this process, and a descendant's wait for it would be a self-deadlock
// (EDEADLK). Forked twice, the grandchild orphaned; it reports its pid, then the open's errno.
class StrangerOpen {
 public:
  StrangerOpen(const std::string& path, int flags) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_t child = fork();
    if (child == 0) {
      if (fork() != 0) _exit(0);
      // Nothing of ours: a node descriptor inherited here would make it share our hold.
      constexpr int kReport = 1000;
      dup2(fds[1], kReport);
      close_range(3, kReport - 1, 0);
      close_range(kReport + 1, ~0U, 0);
      pid_t self = getpid();
      [[maybe_unused]] auto w = write(kReport, &self, sizeof self);
      alarm(30);
      int error = open(path.c_str(), flags) < 0 ? errno : 0;
      w = write(kReport, &error, sizeof error);
      pause();
      _exit(0);
    }
    close(fds[1]);
    waitpid(child, nullptr, 0);
    report_ = fds[0];
    [[maybe_unused]] auto r = read(report_, &pid_, sizeof pid_);
  }
  ~StrangerOpen() {
    if (pid_ > 0) kill(pid_, SIGKILL);
    if (report_ >= 0) close(report_);
  }
  pid_t pid() const { return pid_; }
  /// The open's errno within `timeout_ms`, or -1.
  int result(int timeout_ms) {
    pollfd p{report_, POLLIN, 0};
    int error = -1;
    if (poll(&p, 1, timeout_ms) == 1 && read(report_, &error, sizeof error) != sizeof error)
      error = -1;
    return error;
  }

 private:
  pid_t pid_ = -1;
  int report_ = -1;
};

using ContentionTest = MountTest;

TEST_F(ContentionTest, AHolderIsWokenWhenSomebodyWantsItsLockAndNeverOtherwise) {
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  // Nobody wants it: no wake-up, also not when others lock other snapshots.
  {
    NodeHolder other(node(kSnap2), O_RDWR);
    EXPECT_EQ(until_wanted(fd, 300ms), -1ms);
  }
  // A waiter through the mount (timed from its fork: the open is at most later).
  const auto asked = Clock::now();
  StrangerOpen waiter(node(kSnap1), O_RDONLY);
  auto woken = until_wanted(fd, 2000ms);
  ASSERT_NE(woken, -1ms);
  EXPECT_LE(Clock::now() - asked, 50ms);
  std::string text = text_of(fd);
  EXPECT_NE(
      text.find("wanted: a wait (shared, through the mount, pid " + std::to_string(waiter.pid())),
      std::string::npos)
      << text;
  // Read: no more POLLPRI until somebody wants it again.
  EXPECT_EQ(until_wanted(fd, 200ms), -1ms);
  // A direct attempt refused (PBS's LOCK_NB try), seen by the watcher.
  const auto tried = Clock::now();
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_EX));
  ASSERT_NE(until_wanted(fd, 2000ms), -1ms);
  EXPECT_LE(Clock::now() - tried, 50ms);
  text = text_of(fd);
  EXPECT_NE(text.find("wanted: a refused attempt (mode unknown, direct, pid unknown)"),
            std::string::npos)
      << text;
  close(fd);
  EXPECT_EQ(waiter.result(2000), 0);  // the waiter gets the lock once the holder let go
}

}  // namespace
}  // namespace pbs::test
