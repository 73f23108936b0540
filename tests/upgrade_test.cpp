// Upgrade in place (`pbs-lockctl upgrade`): the daemon replaces its program under the live mount.
// Every lock held through the mount stays held throughout (checked with flock(2) on the real lock
// files from other processes), the status texts stay the same, the history and the metrics go on,
// requests made during the switch all succeed, and a program that cannot take over is refused
// while the old one serves on.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <atomic>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "lock_event.hpp"
#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

std::string xattr(const std::string& path, const char* name) {
  std::string value(65536, '\0');
  ssize_t n = getxattr(path.c_str(), name, value.data(), value.size());
  return n < 0 ? "errno " + std::to_string(errno) : value.substr(0, static_cast<std::size_t>(n));
}

std::string exe_of(pid_t pid) {
  char target[PATH_MAX];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), target, sizeof target);
  return n < 0 ? std::string() : std::string(target, static_cast<std::size_t>(n));
}

/// Runs `pbs-lockctl upgrade --mount MNT`; its exit code, with what it printed in `output`.
int lockctl_upgrade(const std::string& mount, std::string& output) {
  std::string command =
      std::string(PBS_LOCKCTL) + " upgrade --timeout 60 --mount " + mount + " 2>&1";
  CommandOutput ran = run_command(command);
  output = ran.out;
  return ran.code;
}

/// Installs `source` at `path` as a package does: a new file renamed over the old one.
void install_program(const std::string& source, const std::string& path) {
  const std::string fresh = path + ".new";
  std::filesystem::copy_file(source, fresh, std::filesystem::copy_options::overwrite_existing);
  chmod(fresh.c_str(), 0755);
  ASSERT_EQ(rename(fresh.c_str(), path.c_str()), 0);
}

/// The events file's text.
std::string events_text(const std::string& mount) {
  std::ifstream file(mount + "/.pbs-lockfs-events");
  return {std::istreambuf_iterator<char>(file), {}};
}

/// The events file's events, by id.
std::map<std::uint64_t, LockEvent> events_by_id(const std::string& mount) {
  std::map<std::uint64_t, LockEvent> events;
  std::istringstream text(events_text(mount));
  for (std::string line; std::getline(text, line);) {
    auto event = parse_event_json(line);
    EXPECT_TRUE(event) << line;
    if (event) events[event->id] = *event;
  }
  return events;
}

/// The metrics file's lines about locks (the daemon's own gauges, such as its memory, left
/// out: they are no lock's).
std::string lock_metrics(const std::string& mount) {
  std::ifstream file(mount + "/.pbs-lockfs-metrics");
  std::string out;
  for (std::string line; std::getline(file, line);) {
    for (const char* prefix :
         {"pbs_lockfs_locks_held", "pbs_lockfs_waiters", "pbs_lockfs_waits_", "pbs_lockfs_refused",
          "pbs_lockfs_wait_duration", "pbs_lockfs_hold_duration", "pbs_lockfs_history_"}) {
      if (line.rfind(prefix, 0) == 0) out += line + "\n";
    }
  }
  return out;
}

/// The names a directory lists, read one small getdents64 at a time; `between` runs after the
/// first read (the listing is then in progress).
std::set<std::string> list_slowly(const std::string& dir, const std::function<void()>& between) {
  std::set<std::string> names;
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  EXPECT_GE(fd, 0);
  char buffer[80];  // one entry at a time
  bool first = true;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buffer, sizeof buffer);
    EXPECT_GE(n, 0) << "errno " << errno;
    if (n <= 0) break;
    for (long at = 0; at < n;) {
      auto* entry = reinterpret_cast<dirent64*>(buffer + at);
      names.insert(entry->d_name);
      at += entry->d_reclen;
    }
    if (first && between) between();
    first = false;
  }
  close(fd);
  return names;
}

class UpgradeTest : public MountTest {
 protected:
  void SetUp() override {
    install_program(PBS_LOCKFS_DAEMON, program());
    MountTest::SetUp();
  }
  /// A copy of the daemon, which the tests replace as a package upgrade would.
  std::string program() const override { return dir_ / "pbs-lockfs"; }

  /// Installs a new copy of the daemon and upgrades to it; EXPECTs success.
  void upgrade() {
    install_program(PBS_LOCKFS_DAEMON, program());
    EXPECT_NE(exe_of(daemon_->daemon_pid()).find("(deleted)"), std::string::npos)
        << "the file was not replaced";
    std::string output;
    EXPECT_EQ(lockctl_upgrade(mnt_, output), 0) << output << daemon_->log();
    EXPECT_NE(output.find("upgraded in place"), std::string::npos) << output;
  }
};

TEST_F(UpgradeTest, EveryHeldLockStaysHeldAndTheNewProgramServes) {
  const std::string group = "ct/200";
  NodeHolder shared(node(kSnap1), O_RDONLY);
  HoldingChild with_reason([&] {
    int fd = open(node(group + "/.lock").c_str(), O_WRONLY);
    if (fd < 0) return errno;
    return write(fd, "prune ct/200\n", 13) == 13 ? 0 : errno;
  });
  HoldingChild converted([&] {
    int fd = open(node(kSnap2).c_str(), O_RDONLY);
    if (fd < 0) return errno;
    return flock(fd, LOCK_EX) == 0 ? 0 : errno;
  });
  ASSERT_EQ(with_reason.error(), 0);
  ASSERT_EQ(converted.error(), 0);
  const std::vector<std::string> nodes{node(kSnap1), node(group + "/.lock"), node(kSnap2)};
  std::vector<std::string> before;
  for (const auto& n : nodes)
    before.push_back(xattr(n, "user.pbs.status"));
  const pid_t daemon = daemon_->daemon_pid();
  upgrade();

  EXPECT_EQ(daemon_->daemon_pid(), daemon);
  EXPECT_EQ(exe_of(daemon), program()) << "the serving process runs the new file";
  struct stat running {
  }, installed{};
  ASSERT_EQ(stat(("/proc/" + std::to_string(daemon) + "/exe").c_str(), &running), 0);
  ASSERT_EQ(stat(program().c_str(), &installed), 0);
  EXPECT_EQ(running.st_ino, installed.st_ino);
  EXPECT_EQ(mount_status(mnt_, "upgrade attempts"), "1");
  EXPECT_EQ(mount_status(mnt_, "last upgrade").rfind("done", 0), 0u);
  // The real lock files: still held as before.
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_EX));
  EXPECT_TRUE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  EXPECT_FALSE(other_process_can_flock(lock_file(group), LOCK_SH));
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap2), LOCK_SH));
  for (std::size_t i = 0; i < nodes.size(); ++i)
    EXPECT_EQ(xattr(nodes[i], "user.pbs.status"), before[i]) << nodes[i];
  EXPECT_EQ(xattr(node(group + "/.lock"), "user.pbs.reason"), "prune ct/200\n");
  // Closing through the new program releases; new locks are taken as ever.
  with_reason.release();
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(group), LOCK_EX); }));
  converted.release();
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap2), LOCK_EX); }));
  NodeHolder again(node(group + "/.lock"), O_WRONLY);
  EXPECT_FALSE(other_process_can_flock(lock_file(group), LOCK_SH));
}

// The history and the metrics go on as if nothing had happened: every event before, with its id;
// the holds and waits going on end in the new program as the events they began as; a direct
// holder's too (the lock tree monitor's model is handed over).
TEST_F(UpgradeTest, TheHistoryAndTheMetricsGoOnAcrossTheSwitch) {
  const std::string group = "ct/200";
  {
    NodeHolder ended(node(kSnap1), O_WRONLY);  // a hold begun and ended before (its file made)
  }
  HoldingChild through_mount([&] {
    int fd = open(node(group + "/.lock").c_str(), O_WRONLY);
    if (fd < 0) return errno;
    return write(fd, "verify ct/200\n", 14) == 14 ? 0 : errno;
  });
  ASSERT_EQ(through_mount.error(), 0);
  EXPECT_EQ(child_open_errno(node(group + "/.lock"), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
  FlockHolder direct(lock_file(kSnap1), LOCK_SH);
  HoldingChild waiter(
      [&] { return open(node(group + "/.lock").c_str(), O_RDONLY) < 0 ? errno : 0; }, false);
  auto ongoing = [](const std::map<std::uint64_t, LockEvent>& events, LockEvent::Type type,
                    bool via_mount) -> std::uint64_t {
    for (const auto& [id, e] : events)
      if (e.type == type && e.via_mount == via_mount && e.ongoing()) return id;
    return 0;
  };
  std::map<std::uint64_t, LockEvent> before;
  ASSERT_TRUE(eventually([&] {
    before = events_by_id(mnt_);
    return ongoing(before, LockEvent::Type::kHold, false) != 0 &&
           ongoing(before, LockEvent::Type::kWait, true) != 0;
  })) << events_text(mnt_);
  const std::string metrics_before = lock_metrics(mnt_);
  const std::string events_before = events_text(mnt_);
  upgrade();

  EXPECT_EQ(events_text(mnt_), events_before) << "the history, byte for byte";
  EXPECT_EQ(lock_metrics(mnt_), metrics_before);
  const std::uint64_t mount_hold = ongoing(before, LockEvent::Type::kHold, true);
  const std::uint64_t direct_hold = ongoing(before, LockEvent::Type::kHold, false);
  const std::uint64_t wait = ongoing(before, LockEvent::Type::kWait, true);
  ASSERT_NE(mount_hold, 0u);
  // Each ends in the new program as the event it began as, and nothing begins anew.
  const pid_t direct_pid = direct.pid(), waiter_pid = waiter.pid();
  through_mount.release();
  ASSERT_EQ(waiter.result(5000), 0);
  waiter.release();
  direct.release();
  std::map<std::uint64_t, LockEvent> after;
  EXPECT_TRUE(eventually([&] {
    after = events_by_id(mnt_);
    return after.count(direct_hold) == 1 && !after.at(direct_hold).ongoing();
  })) << events_text(mnt_);
  EXPECT_EQ(after.at(mount_hold).outcome, "released");
  EXPECT_EQ(after.at(mount_hold).reason, "verify ct/200\n");
  EXPECT_EQ(after.at(mount_hold).start, before.at(mount_hold).start);
  EXPECT_EQ(after.at(wait).outcome, "granted");
  EXPECT_EQ(after.at(direct_hold).outcome, "released");
  EXPECT_EQ(after.at(direct_hold).pid, direct_pid);
  for (const auto& [id, e] : after) {
    if (before.count(id) == 0) {
      // Only the waiter's hold (granted after the switch) is new: no refusal made up of the
      // close of a descriptor the old program opened.
      EXPECT_EQ(e.type, LockEvent::Type::kHold) << event_json(e);
      EXPECT_EQ(e.pid, waiter_pid) << event_json(e);
    }
  }
  // The gauges went down from what they were (they would go negative, or stay up, if the
  // new program had counted from zero or twice).
  const std::string metrics = lock_metrics(mnt_);
  EXPECT_EQ(metrics.find("pbs_lockfs_locks_held{"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("pbs_lockfs_waiters{"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("pbs_lockfs_hold_duration_seconds_count{store=\"store1\",kind=\"group\","
                         "via=\"mount\"} 2"),
            std::string::npos)
      << metrics;
}

TEST_F(UpgradeTest, RequestsDuringTheSwitchAllSucceedAndAListingGoesOn) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, failed{0};
  std::vector<std::thread> hammer;
  for (int t = 0; t < 2; ++t) {
    hammer.emplace_back([&, t] {
      while (!stop) {
        bool ok = true;
        if (t == 0) {
          struct stat st {};
          ok = stat(node(kSnap1).c_str(), &st) == 0;
        } else {
          int fd = open(node(kSnap2).c_str(), O_RDONLY | O_NONBLOCK);
          ok = fd >= 0;
          if (fd >= 0) close(fd);
        }
        if (!ok) std::fprintf(stderr, "hammer %d: errno %d\n", t, errno);
        (ok ? done : failed)++;
      }
    });
  }
  const auto everything = list_slowly(node("vm/100"), {});
  const auto across = list_slowly(node("vm/100"), [&] { upgrade(); });
  upgrade();
  upgrade();
  stop = true;
  for (auto& t : hammer)
    t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(done.load(), 0);
  EXPECT_EQ(across, everything);
  EXPECT_EQ(mount_status(mnt_, "upgrade attempts"), "3");
}

TEST_F(UpgradeTest, AProgramThatCannotTakeOverIsRefusedAndTheOldOneServesOn) {
  NodeHolder held(node("vm/100/.lock"), O_WRONLY);
  const pid_t daemon = daemon_->daemon_pid();
  // A "new version" that refuses the state, as a program of another state format does.
  const std::string fresh = program() + ".new";
  {
    std::ofstream script(fresh);
    script
        << "#!/bin/sh\necho 'cannot resume: state format 1 (this program reads 2)' >&2\nexit 1\n";
  }
  chmod(fresh.c_str(), 0755);
  ASSERT_EQ(rename(fresh.c_str(), program().c_str()), 0);
  std::string output;
  EXPECT_EQ(lockctl_upgrade(mnt_, output), 1) << output;
  EXPECT_NE(output.find("state format 1 (this program reads 2)"), std::string::npos) << output;
  EXPECT_EQ(mount_status(mnt_, "last upgrade").rfind("refused", 0), 0u);
  // Same process, same (old) program, same lock, and serving.
  EXPECT_EQ(daemon_->daemon_pid(), daemon);
  EXPECT_NE(exe_of(daemon).find("(deleted)"), std::string::npos);
  EXPECT_FALSE(other_process_can_flock(lock_file("vm/100"), LOCK_SH));
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), 0);
  EXPECT_EQ(child_open_errno(node("vm/100/.lock"), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
  // A good program later: the upgrade goes through, the lock still held.
  upgrade();
  EXPECT_FALSE(other_process_can_flock(lock_file("vm/100"), LOCK_SH));
  held.release();
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file("vm/100"), LOCK_EX); }));
}

TEST_F(UpgradeTest, WaitersKeepTheirPlaceAcrossTheUpgrade) {
  auto holder = std::make_unique<NodeHolder>(node(kSnap1), O_WRONLY);
  auto open_waiter = [&](int flags) {
    return std::make_unique<HoldingChild>(
        [&, flags] { return open(node(kSnap1).c_str(), flags) >= 0 ? 0 : errno; }, false);
  };
  auto first = open_waiter(O_WRONLY);
  ASSERT_TRUE(eventually([&] { return xattr(node(kSnap1), "user.pbs.waiters") == "1"; }));
  auto second = open_waiter(O_RDONLY);
  ASSERT_TRUE(eventually([&] { return xattr(node(kSnap1), "user.pbs.waiters") == "2"; }));
  // A conversion waiting too: two shared holders of kSnap2, one of which asks for exclusive.
  NodeHolder other_shared(node(kSnap2), O_RDONLY);
  HoldingChild converting(
      [&] {
        int fd = open(node(kSnap2).c_str(), O_RDONLY);
        if (fd < 0) return errno;
        return flock(fd, LOCK_EX) == 0 ? 0 : errno;
      },
      false);
  ASSERT_TRUE(eventually([&] { return xattr(node(kSnap2), "user.pbs.waiters") == "1"; }));

  upgrade();

  EXPECT_NE(daemon_->log().find("3 waiting request(s)"), std::string::npos);  // 2 opens, 1 flock
  EXPECT_EQ(xattr(node(kSnap1), "user.pbs.waiters"), "2");
  EXPECT_EQ(first->result(300), -1) << "still waiting";
  EXPECT_EQ(second->result(0), -1) << "still waiting";
  EXPECT_EQ(converting.result(0), -1) << "still waiting";
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  // First come, first served, as before the switch.
  holder->release();
  EXPECT_EQ(first->result(10000), 0) << daemon_->log();
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  EXPECT_EQ(second->result(300), -1) << "the second waits for the first";
  first->release();
  EXPECT_EQ(second->result(10000), 0);
  EXPECT_TRUE(other_process_can_flock(lock_file(kSnap1), LOCK_SH));
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_EX));
  // The conversion is granted once the other shared holder lets go.
  other_shared.release();
  EXPECT_EQ(converting.result(10000), 0);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap2), LOCK_SH));
  converting.release();
  second->release();
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap2), LOCK_EX); }));
}

void interrupted(int) {}

TEST_F(UpgradeTest, AWaiterSignalledAfterTheSwitchGetsEintr) {
  NodeHolder holder(node(kSnap1), O_WRONLY);
  HoldingChild waiter(
      [&] {
        struct sigaction action {};
        action.sa_handler = interrupted;  // no SA_RESTART: the open fails with EINTR
        sigaction(SIGUSR1, &action, nullptr);
        return open(node(kSnap1).c_str(), O_RDONLY) >= 0 ? 0 : errno;
      },
      false);
  ASSERT_TRUE(eventually([&] { return xattr(node(kSnap1), "user.pbs.waiters") == "1"; }));
  upgrade();
  EXPECT_EQ(waiter.result(300), -1) << "still waiting";
  ASSERT_EQ(kill(waiter.pid(), SIGUSR1), 0);
  EXPECT_EQ(waiter.result(10000), EINTR) << daemon_->log();
  EXPECT_TRUE(eventually([&] { return xattr(node(kSnap1), "user.pbs.waiters") == "0"; }));
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_SH)) << "the holder still holds";
}

TEST_F(UpgradeTest, AHolderIsStillToldWhenSomebodyWantsItsLock) {
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  // Wanted before the switch: POLLPRI after it, until the holder reads its node.
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
  upgrade();
  pollfd at_once{fd, POLLPRI, 0};
  EXPECT_EQ(poll(&at_once, 1, 1000), 1);
  EXPECT_TRUE(at_once.revents & POLLPRI);
  char text[4096];
  EXPECT_GT(pread(fd, text, sizeof text, 0), 0);
  // A poll waiting across a switch is woken when somebody wants the lock after it.
  std::atomic<int> revents{-1};
  std::thread poller([&] {
    pollfd p{fd, POLLPRI, 0};
    revents = poll(&p, 1, 20000) == 1 ? p.revents : 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the poll waits in the kernel
  upgrade();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(revents.load(), -1) << "woken without news";
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
  EXPECT_TRUE(eventually([&] { return revents.load() != -1; }, std::chrono::seconds(5)));
  EXPECT_TRUE(revents.load() & POLLPRI);
  poller.join();
  close(fd);
}

class UpgradeTimeoutTest : public UpgradeTest {
 protected:
  std::vector<std::string> extra_options() const override { return {"wait_timeout=3"}; }
};

TEST_F(UpgradeTimeoutTest, AWaitKeepsItsDeadline) {
  NodeHolder holder(node(kSnap1), O_WRONLY);
  const auto started = std::chrono::steady_clock::now();
  HoldingChild waiter([&] { return open(node(kSnap1).c_str(), O_RDONLY) >= 0 ? 0 : errno; }, false);
  ASSERT_TRUE(eventually([&] { return xattr(node(kSnap1), "user.pbs.waiters") == "1"; }));
  upgrade();
  EXPECT_EQ(waiter.result(10000), ETIMEDOUT);
  const auto waited = std::chrono::steady_clock::now() - started;
  // Its 3 s counted from its start, the switch's own time included.
  EXPECT_GE(waited, std::chrono::milliseconds(2900));
  EXPECT_LT(waited, std::chrono::milliseconds(4000));
}

}  // namespace
}  // namespace pbs::test
