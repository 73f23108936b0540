// A polite stop (SIGTERM to the monitor, as systemctl stop sends it) keeps every lock: the mount
// is detached lazily and the daemon serves the open handles, waiting opens included, until the
// last is closed. A second SIGTERM or stop_grace ends it sooner, releasing everything.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;

bool lock_free(const std::string& file) {
  return other_process_can_flock(file, LOCK_EX);
}

class PoliteStop : public MountTest {};

TEST_F(PoliteStop, ServesHeldAndWaitingOpensUntilTheLastIsClosed) {
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  std::string granted = dir_ / "granted";
  pid_t waiter = spawn_command(
      {"sh", "-c", "exec 9<'" + node(kSnap1) + "' && touch '" + granted + "' && sleep 0.3"});
  std::this_thread::sleep_for(200ms);  // the waiter is queued behind the holder
  ASSERT_EQ(kill(daemon_->monitor_pid(), SIGTERM), 0);

  EXPECT_TRUE(eventually([&] { return !is_fuse_mount(mnt_); }));  // detached: nothing new opens
  EXPECT_FALSE(std::filesystem::exists(node(kSnap2)));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(lock_free(lock_file(kSnap1)));  // still held
  EXPECT_FALSE(daemon_->wait_for_exit(0ms).has_value());
  EXPECT_FALSE(std::filesystem::exists(granted));

  holder.release();  // the waiter gets the lock, through the detached mount
  EXPECT_EQ(wait_exit_code(waiter), 0);
  EXPECT_TRUE(std::filesystem::exists(granted));
  // The waiter's close was the last: the daemon ends by itself, cleanly, and nothing is held.
  EXPECT_EQ(daemon_->wait_for_exit(10s), 0) << daemon_->log();
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  EXPECT_NE(daemon_->log().find("stop: " + mnt_ + " detached"), std::string::npos)
      << daemon_->log();
}

TEST_F(PoliteStop, WithNothingOpenItEndsAtOnce) {
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(daemon_->monitor_pid(), SIGTERM), 0);
  EXPECT_EQ(daemon_->wait_for_exit(5s), 0) << daemon_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(is_fuse_mount(mnt_));
}

TEST_F(PoliteStop, ASecondSignalEndsItNowAndReleasesEveryLock) {
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  ASSERT_EQ(kill(daemon_->monitor_pid(), SIGTERM), 0);
  EXPECT_TRUE(eventually([&] { return !is_fuse_mount(mnt_); }));
  EXPECT_FALSE(daemon_->wait_for_exit(300ms).has_value());
  ASSERT_EQ(kill(daemon_->monitor_pid(), SIGINT), 0);
  EXPECT_EQ(daemon_->wait_for_exit(5s), 0) << daemon_->log();
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
}

// SIGTERM to the serving daemon itself (not the monitor) ends it now: every worker thread, most
// of them waiting for a request, stops; a waiting open gets EINTR; every lock is released and the
// monitor removes the mount.
TEST_F(PoliteStop, ASignalToTheServingDaemonEndsItAtOnce) {
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  const std::string path = node(kSnap1);
  HoldingChild waiter(  // queued behind the holder
      [&] {
        int fd = open(path.c_str(), O_RDONLY);
        return fd >= 0 ? 0 : errno;
      },
      false);
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(waiter.result(0), -1);  // still waiting
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(daemon_->daemon_pid(), SIGTERM), 0);
  EXPECT_EQ(daemon_->wait_for_exit(5s), 0) << daemon_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  EXPECT_FALSE(is_fuse_mount(mnt_));
  const int waited = waiter.result(3000);
  EXPECT_TRUE(waited == EINTR || waited == ECONNABORTED) << error_text(waited);  // never granted
  EXPECT_NE(daemon_->log().find("signal 15: ending now"), std::string::npos) << daemon_->log();
}

// Whatever keeps a daemon from finishing once its connection has ended (here a thread stuck in
// its teardown, injected), it ends within the teardown watchdog's bound, says where it was stuck,
// and the kernel frees its locks: a daemon whose handles are gone never sits on their locks.
TEST_F(PoliteStop, AStuckTeardownStillEndsTheDaemonWithinItsBound) {
  auto stuck = mount_another("stuck-mnt", {}, {"PBS_LOCKFS_INJECT_FAULT=teardown"});
  ASSERT_TRUE(stuck->mounted());
  NodeHolder holder(std::string(dir_ / "stuck-mnt") + "/store1/" + kSnap2, O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  EXPECT_FALSE(lock_free(lock_file(kSnap2)));
  ASSERT_EQ(kill(stuck->monitor_pid(), SIGTERM), 0);  // polite: detached, the hold stays
  EXPECT_TRUE(eventually([&] { return !is_fuse_mount(dir_ / "stuck-mnt"); }));
  holder.release();  // the last handle: the kernel ends the connection, teardown begins and sticks
  auto released = std::chrono::steady_clock::now();
  EXPECT_EQ(stuck->wait_for_exit(20s), 1) << stuck->log();
  auto took = std::chrono::steady_clock::now() - released;
  EXPECT_GE(took, 4500ms);  // the bound is 5 s: not sooner (a teardown is not cut short early)
  EXPECT_LT(took, 12s);
  EXPECT_TRUE(lock_free(lock_file(kSnap2)));
  const std::string log = stuck->log();
  EXPECT_NE(log.find("teardown stuck for 5000 ms while stopping the holders service"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("waiting in"), std::string::npos) << log;  // the threads' wait channels
}

class PoliteStopWithGrace : public MountTest {
  std::vector<std::string> extra_options() const override { return {"stop_grace=0.5"}; }
};

TEST_F(PoliteStopWithGrace, TheGracePeriodEndsItAndReleasesEveryLock) {
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(daemon_->monitor_pid(), SIGTERM), 0);
  EXPECT_EQ(daemon_->wait_for_exit(5s), 0) << daemon_->log();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  EXPECT_NE(daemon_->log().find("grace period over"), std::string::npos) << daemon_->log();
}

}  // namespace
}  // namespace pbs::test
