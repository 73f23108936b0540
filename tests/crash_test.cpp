// The daemon killed with SIGKILL: every lock it held is free at once, holders see ENOTCONN and
// waiters ECONNABORTED, the monitor removes the dead mount, and a new daemon mounts again.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "mount_fixture.hpp"
#include "mount_table.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;

// A child blocked in open(path, flags); its errno (0: opened) arrives on the pipe when it ends.
struct BlockedOpen {
  pid_t pid = -1;
  int result = -1;
  BlockedOpen(const std::string& path, int flags) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int fd = open(path.c_str(), flags);
      int error = fd >= 0 ? 0 : errno;
      [[maybe_unused]] ssize_t n = write(fds[1], &error, sizeof error);
      _exit(0);
    }
    close(fds[1]);
    result = fds[0];
  }
  int error() {
    int error = -1;
    if (read(result, &error, sizeof error) != sizeof error) error = -1;
    close(result);
    waitpid(pid, nullptr, 0);
    return error;
  }
};

bool in_mount_table(const std::string& mountpoint) {
  for (const auto& entry : read_mount_table()) {
    if (entry.mountpoint == mountpoint) return true;
  }
  return false;
}

class DaemonCrash : public MountTest {};

TEST_F(DaemonCrash, ReleasesEveryLockTellsEveryoneAndMountsAgain) {
  int held = open(node(kSnap2).c_str(), O_RDWR);  // held by this test process
  ASSERT_GE(held, 0);
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  BlockedOpen waiter(node(kSnap1), O_RDONLY);
  std::this_thread::sleep_for(200ms);  // queued behind the holder
  ASSERT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  ASSERT_FALSE(other_process_can_flock(lock_file(kSnap2), LOCK_SH));

  ASSERT_EQ(kill(daemon_->daemon_pid(), SIGKILL), 0);

  EXPECT_EQ(waiter.error(), ECONNABORTED);
  // The kernel closed the daemon's descriptors: both locks are free at once.
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  EXPECT_TRUE(other_process_can_flock(lock_file(kSnap2), LOCK_EX));
  char buffer[64];
  EXPECT_LT(pread(held, buffer, sizeof buffer, 0), 0);
  EXPECT_EQ(errno, ENOTCONN);
  close(held);
  // The monitor reports the crash and removes the dead mount.
  EXPECT_EQ(daemon_->wait_for_exit(5s), 128 + SIGKILL);
  EXPECT_FALSE(in_mount_table(mnt_));
  EXPECT_NE(daemon_->log().find("killed by signal 9"), std::string::npos) << daemon_->log();
  holder.release();

  // A restart mounts again and locks again.
  daemon_->stop();
  daemon_ = std::make_unique<MountedDaemon>(
      mnt_,
      std::vector<std::string>{"store=store1:" + datastore_, "lock_root=" + locks_,
                               "old_locking_marker=" + marker_},
      dir_ / "daemon2.log");
  ASSERT_TRUE(daemon_->mounted()) << daemon_->log();
  int again = open(node(kSnap1).c_str(), O_RDWR);
  EXPECT_GE(again, 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  close(again);
}

}  // namespace
}  // namespace pbs::test
