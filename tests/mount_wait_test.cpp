// Waiting for a lock through the mount: blocking opens granted when holders let go, FIFO order,
// shared batching, cancellation by signals and by wait_timeout, a thousand waiters without
// freezing the mount, and flock(2) on nodes.
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class MountWaitTest : public MountTest {
 protected:
  long waiting() const {
    std::ifstream in(mnt_ + "/.pbs-lockfs");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("waiting: ", 0) == 0) return std::stol(line.substr(9));
    }
    return -1;
  }
  void wait_for_waiters(long n) {
    ASSERT_TRUE(eventually([&] { return waiting() == n; }, 30s)) << "waiting: " << waiting();
  }
  /// A child that opens `path` (blocking), appends "enter TAG" to `record` once it holds it,
  /// holds it for `hold`, appends "leave TAG" and exits.
  pid_t start_recording_waiter(const std::string& path, int flags, const std::string& record,
                               const std::string& tag, std::chrono::milliseconds hold) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(path.c_str(), flags);
      if (fd < 0) _exit(1);
      int out = open(record.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
      std::string enter = "enter " + tag + "\n", leave = "leave " + tag + "\n";
      [[maybe_unused]] auto a = write(out, enter.data(), enter.size());
      std::this_thread::sleep_for(hold);
      [[maybe_unused]] auto b = write(out, leave.data(), leave.size());
      flock(fd, LOCK_UN);  // synchronous release, so the next one sees the record in order
      _exit(0);
    }
    return pid;
  }
  std::vector<std::string> read_record(const std::string& record) {
    std::ifstream in(record);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    return lines;
  }
  void create_lock_file(const std::string& object) {
    ASSERT_EQ(child_open_errno(node(object), O_RDONLY), 0);
    ASSERT_TRUE(eventually([&] { return other_process_can_flock(lock_file(object), LOCK_EX); }));
  }
};

TEST_F(MountWaitTest, BlockingOpenIsGrantedWhenAFlockCommandExits) {
  create_lock_file(kSnap1);
  pid_t direct = spawn_command({"flock", "-o", "-x", lock_file(kSnap1), "sleep", "600"});
  ASSERT_TRUE(eventually([&] { return !other_process_can_flock(lock_file(kSnap1), LOCK_SH); }));
  std::unique_ptr<NodeHolder> holder;
  std::thread opener([&] { holder = std::make_unique<NodeHolder>(node(kSnap1), O_RDWR); });
  wait_for_waiters(1);
  auto released = Clock::now();
  kill_and_reap(direct);
  opener.join();
  EXPECT_LT(Clock::now() - released, 2s);  // noticed through inotify, not a slow poll
  EXPECT_EQ(holder->error(), 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  EXPECT_EQ(waiting(), 0);
}

TEST_F(MountWaitTest, WaitersThroughTheMountAreServedFirstComeFirstServed) {
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  std::string record = dir_ / "record";
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i) {
    children.push_back(
        start_recording_waiter(node(kSnap1), O_RDWR, record, std::to_string(i), 10ms));
    wait_for_waiters(i + 1);
  }
  holder.release();
  for (pid_t pid : children)
    EXPECT_EQ(wait_exit_code(pid), 0);
  std::vector<std::string> expected;
  for (int i = 0; i < 6; ++i) {
    expected.push_back("enter " + std::to_string(i));
    expected.push_back("leave " + std::to_string(i));
  }
  EXPECT_EQ(read_record(record), expected);
}

TEST_F(MountWaitTest, ConsecutiveSharedWaitersAreGrantedTogether) {
  NodeHolder holder(node(kSnap1), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  std::string record = dir_ / "record";
  std::vector<pid_t> children;
  struct Step {
    int flags;
    const char* tag;
  } steps[] = {{O_RDONLY, "s0"}, {O_RDONLY, "s1"}, {O_RDWR, "x2"}, {O_RDONLY, "s3"}};
  for (int i = 0; i < 4; ++i) {
    children.push_back(
        start_recording_waiter(node(kSnap1), steps[i].flags, record, steps[i].tag, 300ms));
    wait_for_waiters(i + 1);
  }
  holder.release();
  for (pid_t pid : children)
    EXPECT_EQ(wait_exit_code(pid), 0);
  auto lines = read_record(record);
  ASSERT_EQ(lines.size(), 8u);
  auto at = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) - lines.begin();
  };
  // s0 and s1 hold together; x2 only after both left; s3 (behind x2) only after x2 left.
  EXPECT_LT(at("enter s1"), at("leave s0"));
  EXPECT_LT(at("enter s0"), at("leave s1"));
  EXPECT_GT(at("enter x2"), at("leave s0"));
  EXPECT_GT(at("enter x2"), at("leave s1"));
  EXPECT_GT(at("enter s3"), at("leave x2"));
}

TEST_F(MountWaitTest, TimeoutCommandEndsAWaitPromptlyAndLeavesNoLock) {
  create_lock_file(kSnap1);
  auto direct = std::make_unique<FlockHolder>(lock_file(kSnap1), LOCK_EX);
  auto start = Clock::now();
  pid_t cat = spawn_command({"timeout", "1", "cat", node(kSnap1)});
  EXPECT_EQ(wait_exit_code(cat), 124);
  EXPECT_LT(Clock::now() - start, 2500ms);
  EXPECT_EQ(waiting(), 0);
  direct->release();
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  EXPECT_NE(daemon_->log().find("interrupted"), std::string::npos);
}

TEST_F(MountWaitTest, AThousandWaitingOpensKeepTheMountAnsweringWithBoundedThreads) {
  create_lock_file(kSnap1);
  auto direct = std::make_unique<FlockHolder>(lock_file(kSnap1), LOCK_EX);
  constexpr int kWaiters = 1000;
  const std::string path = node(kSnap1);
  pid_t crowd = fork();
  if (crowd == 0) {
    std::vector<pthread_t> threads(kWaiters);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    auto body = [](void* p) -> void* {
      int fd = open(static_cast<const char*>(p), O_RDONLY);
      if (fd >= 0) close(fd);
      return reinterpret_cast<void*>(static_cast<intptr_t>(fd >= 0));
    };
    int ok = 0;
    for (auto& t : threads)
      pthread_create(&t, &attr, body, const_cast<char*>(path.c_str()));
    for (auto& t : threads) {
      void* result;
      pthread_join(t, &result);
      ok += result != nullptr;
    }
    _exit(ok == kWaiters ? 0 : 1);
  }
  wait_for_waiters(kWaiters);
  pid_t daemon = daemon_->daemon_pid();
  long threads = status_value(daemon, "Threads:");
  EXPECT_GT(threads, 0);
  EXPECT_LE(threads, 24) << "threads must not grow with waiters";
  EXPECT_LT(status_value(daemon, "VmRSS:"), 256 * 1024) << "kB";
  // The mount still answers listings, attributes and non-blocking opens of other nodes.
  auto start = Clock::now();
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(node("vm/100"))) {
    struct stat st {};
    EXPECT_EQ(stat(e.path().c_str(), &st), 0);
    ++entries;
  }
  EXPECT_EQ(entries, 5);
  EXPECT_EQ(child_open_errno(node(kSnap2), O_RDWR | O_NONBLOCK), 0);
  EXPECT_LT(Clock::now() - start, 5s);
  direct->release();
  EXPECT_EQ(wait_exit_code(crowd), 0);
  EXPECT_EQ(waiting(), 0);
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
}

TEST_F(MountWaitTest, ManyThreadsReopeningWhatTheyJustClosedNeverGetEdeadlk) {
  // A close() reaches the daemon as an asynchronous RELEASE, so a thread that reopens what it
  // just closed finds its own process still holding, and waits. The check that such a wait is
  // not a deadlock once held a FUSE worker for up to 250 ms: with more such threads than
  // workers, no worker was left to process the RELEASEs, and the opens failed with EDEADLK.
  constexpr int kThreads = 48, kCycles = 60;
  auto snapshot = [](int i) {
    char time[64];
    std::snprintf(time, sizeof time, "vm/901/2021-01-01T%02d:%02d:00Z", i / 60, i % 60);
    return std::string(time);
  };
  for (int i = 0; i < 2 * kThreads; ++i)
    make_directories(datastore_ + "/" + snapshot(i));
  fingerprint_ = tree_fingerprint(datastore_);  // the test's own snapshots, not the daemon's
  std::atomic<int> failed{0}, last_errno{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string nodes[2];
      for (int k = 0; k < 2; ++k)
        nodes[k] = node(snapshot(2 * t + k));
      for (int c = 0; c < kCycles; ++c) {
        int fd = open(nodes[c % 2].c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
          ++failed;
          last_errno = errno;
          continue;
        }
        close(fd);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failed.load(), 0) << "last errno " << last_errno.load();
}

TEST_F(MountWaitTest, HoldsOfOneProcessCostTheDaemonOneDescriptorEach) {
  // Each handle pins its opener with a pidfd; the handles of one live process share one, so
  // 10,000 holds of one process need 10,000 lock files, not 20,000 descriptors (the daemon ran
  // out of them at a limit of 20,000 and answered EMFILE).
  constexpr int kNodes = 300;
  auto snapshot = [](int i) {
    char time[64];
    std::snprintf(time, sizeof time, "vm/902/2021-01-01T%02d:%02d:00Z", i / 60, i % 60);
    return std::string(time);
  };
  for (int i = 0; i < kNodes; ++i)
    make_directories(datastore_ + "/" + snapshot(i));
  fingerprint_ = tree_fingerprint(datastore_);  // the test's own snapshots, not the daemon's
  const std::string fds = "/proc/" + std::to_string(daemon_->daemon_pid()) + "/fd";
  auto count = [&] {
    return std::distance(std::filesystem::directory_iterator(fds),
                         std::filesystem::directory_iterator{});
  };
  const auto before = count();
  std::vector<int> held;
  for (int i = 0; i < kNodes; ++i) {
    int fd = open(node(snapshot(i)).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << snapshot(i);
    held.push_back(fd);
  }
  const auto during = count();
  for (int fd : held)
    close(fd);
  EXPECT_LE(during - before, kNodes + 5)
      << "descriptors before " << before << ", while held " << during;
}

TEST_F(MountWaitTest, FlockCommandOnANodeHoldsTheRealLockInTheModeAsked) {
  create_lock_file(kSnap1);
  pid_t exclusive = spawn_command({"flock", "-x", node(kSnap1), "sleep", "600"});
  EXPECT_TRUE(eventually([&] { return !other_process_can_flock(lock_file(kSnap1), LOCK_SH); }));
  kill_and_reap(exclusive);
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  pid_t shared = spawn_command({"flock", "-s", node(kSnap1), "sleep", "600"});
  EXPECT_TRUE(eventually([&] { return !other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  EXPECT_TRUE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  kill_and_reap(shared);
}

TEST_F(MountWaitTest, FlockUnlockReleasesSynchronouslyAndRelocks) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  ASSERT_EQ(flock(fd, LOCK_UN), 0);
  EXPECT_TRUE(other_process_can_flock(lock_file(kSnap1), LOCK_EX));  // at once, no polling
  ASSERT_EQ(flock(fd, LOCK_SH), 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_EX));
  EXPECT_TRUE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  close(fd);
}

TEST_F(MountWaitTest, FlockNonblockingConversionFailsAgainstADirectHolder) {
  create_lock_file(kSnap1);
  FlockHolder reader(lock_file(kSnap1), LOCK_SH);
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_NE(flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  pid_t probe = spawn_command({"flock", "-n", "-x", node(kSnap1), "true"});
  EXPECT_EQ(wait_exit_code(probe), 1);
  close(fd);
}

TEST_F(MountWaitTest, BlockingConversionWaitsForTheDirectHolder) {
  create_lock_file(kSnap1);
  auto reader = std::make_unique<FlockHolder>(lock_file(kSnap1), LOCK_SH);
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  int result = -1;
  std::thread converter([&] { result = flock(fd, LOCK_EX); });
  wait_for_waiters(1);
  reader->release();
  converter.join();
  EXPECT_EQ(result, 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  close(fd);
}

class WaitTimeoutTest : public MountWaitTest {
 protected:
  std::vector<std::string> extra_options() const override { return {"wait_timeout=0.3"}; }
};

TEST_F(WaitTimeoutTest, ABlockingOpenEndsWithEtimedout) {
  create_lock_file(kSnap1);
  FlockHolder direct(lock_file(kSnap1), LOCK_EX);
  auto start = Clock::now();
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY), ETIMEDOUT);
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(waiting(), 0);
  // Logged as what it is: the lock was still taken, nothing was locked.
  EXPECT_NE(daemon_->log().find("ended by wait_timeout (300 ms): the lock is still taken, the open "
                                "fails with ETIMEDOUT and nothing was locked"),
            std::string::npos)
      << daemon_->log();
}

class LongWaitTimeoutTest : public MountWaitTest {
 protected:
  std::vector<std::string> extra_options() const override { return {"wait_timeout=60"}; }
};

// With wait_timeout set, every re-check of a waiting open once scheduled its deadline again:
// the daemon's timers (and memory) grew for as long as opens waited. One due time per lock now.
TEST_F(LongWaitTimeoutTest, AWaitingOpenKeepsTheDaemonsTimersBounded) {
  create_lock_file(kSnap1);
  FlockHolder direct(lock_file(kSnap1), LOCK_EX);
  pid_t waiter = fork();
  if (waiter == 0) {
    int fd = open(node(kSnap1).c_str(), O_RDONLY);
    _exit(fd >= 0 ? 0 : 1);
  }
  std::this_thread::sleep_for(2500ms);  // the backoff reaches 100 ms: about 20 re-checks
  auto timers = [&] {
    std::ifstream in(mnt_ + "/.pbs-lockfs");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("timers: ", 0) == 0) return std::stol(line.substr(8));
    }
    return -1L;
  };
  long pending = timers();
  EXPECT_GE(pending, 1);
  EXPECT_LE(pending, 3) << "timers pile up while an open waits";
  direct.release();
  EXPECT_EQ(wait_exit_code(waiter), 0);
}

class OpenLocksOffTest : public MountWaitTest {
 protected:
  std::vector<std::string> extra_options() const override { return {"open_locks=no"}; }
};

TEST_F(OpenLocksOffTest, OnlyFlockTakesLocksAndFlockNFailsAtOnce) {
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));  // opening took nothing
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  close(fd);
  ASSERT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  FlockHolder direct(lock_file(kSnap1), LOCK_EX);
  auto start = Clock::now();
  pid_t probe = spawn_command({"flock", "-n", "-s", node(kSnap1), "true"});
  EXPECT_EQ(wait_exit_code(probe), 1);
  EXPECT_LT(Clock::now() - start, 2s);
}

// Two threads blocking in flock(LOCK_EX) on one descriptor: as with flock(2) on one open file
// description, both return once the lock is free, and one lock is held (the second was once
// queued as a second lock and waited for ever behind the first).
TEST_F(OpenLocksOffTest, TwoThreadsFlockingOneDescriptorBothGetTheOneLock) {
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_SH), 0);  // creates the lock file
  ASSERT_EQ(flock(fd, LOCK_UN), 0);
  auto direct = std::make_unique<FlockHolder>(lock_file(kSnap1), LOCK_EX);
  std::atomic<int> granted{0};
  auto take = [&] {
    if (flock(fd, LOCK_EX) == 0) ++granted;
  };
  std::thread first(take), second(take);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(granted.load(), 0);
  direct->release();
  EXPECT_TRUE(eventually([&] { return granted.load() == 2; }, 3s)) << granted.load();
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  if (granted.load() < 2) flock(fd, LOCK_UN);  // lets a stuck thread end the test
  first.join();
  second.join();
  close(fd);
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }))
      << "closing the one descriptor left a lock behind";
}

}  // namespace
}  // namespace pbs::test
