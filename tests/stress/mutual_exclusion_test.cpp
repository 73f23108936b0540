// Mutual-exclusion stress: clients through the mount and direct clients using the core library's
// PBS protocol hammer two snapshot locks and a group lock with random shared and exclusive,
// blocking and non-blocking takes, flock(2) conversions, waits cancelled by signals, destroy-
// protocol unlinks while holding, and holders SIGKILLed at random moments.
//
// Every recorded holder appends "<mode> <pid> enter" to the lock's record file after it has the
// lock and "<mode> <pid> leave" before it lets go (O_APPEND: one ordered log per lock), so the
// recorded intervals lie inside the real ones and any overlap of an exclusive holder with any
// other holder shows in the log. Killed holders keep no record (their end is not theirs to
// write); they prove that a death releases. At the end: zero overlaps, nothing held, no
// descriptor leaked in the daemon, every lock file backup:backup 0660. The second run does all
// of it while the daemon replaces its program again and again (upgrade in place, SIGUSR2), for
// as long as 100 switches take (PBS_LOCKFS_STRESS_UPGRADES).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "lock_removal.hpp"
#include "lock_wait.hpp"
#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The locks everybody fights over: TYPE/ID[/TIME] in store1 (the fixture's datastore).
const std::vector<std::string> kTargets = {"vm/100/2024-01-01T00:00:00Z",
                                           "vm/100/2024-01-02T00:00:00Z", "vm/100"};

std::chrono::seconds stress_duration() {
  const char* env = std::getenv("PBS_LOCKFS_STRESS_SECONDS");
  return std::chrono::seconds(env != nullptr ? std::atoi(env) : 45);
}

// Upgrades in place during the upgrading run: it lasts until that many were done.
int stress_upgrades() {
  const char* env = std::getenv("PBS_LOCKFS_STRESS_UPGRADES");
  return env != nullptr ? std::atoi(env) : 100;
}
// The upgrading run ends here even when fewer were done (and fails): within ctest's 180 s.
constexpr auto kUpgradingRunLimit = std::chrono::seconds(140);

/// The end of a run, for the forked clients too: a flag in memory shared with them, which the
/// test raises.
class RunEnd {
 public:
  RunEnd()
      : flag_(static_cast<std::atomic<bool>*>(mmap(nullptr, sizeof(std::atomic<bool>),
                                                   PROT_READ | PROT_WRITE,
                                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0))) {
    if (flag_ == MAP_FAILED) throw std::runtime_error("mmap of the run's end flag failed");
    new (flag_) std::atomic<bool>(false);
  }
  ~RunEnd() { munmap(flag_, sizeof *flag_); }
  RunEnd(const RunEnd&) = delete;
  RunEnd& operator=(const RunEnd&) = delete;
  bool over() const { return flag_->load(); }
  void end() { flag_->store(true); }

 private:
  static_assert(std::atomic<bool>::is_always_lock_free, "shared between processes");
  std::atomic<bool>* flag_;
};

void on_alarm(int) {}

class MutualExclusionStress : public MountTest {
 protected:
  std::chrono::seconds watchdog() const override { return kUpgradingRunLimit + 30s; }
  // A history of a few thousand events: each switch hands it over (a full ring of 65536 costs
  // a sanitizer build seconds per switch; the state's coding has tests of its own).
  std::vector<std::string> extra_options() const override { return {"history_events=4096"}; }
  std::string node_of(const std::string& target) const {
    return target.find('/', target.find('/') + 1) == std::string::npos ? node(target + "/.lock")
                                                                       : node(target);
  }
  std::string record_of(std::size_t target) const {
    return dir_ / ("record-" + std::to_string(target));
  }
  std::string errors_file() const { return dir_ / "errors"; }
  /// The whole stress run; `upgrading`: the daemon replaces its program all along.
  void run(bool upgrading);

  // Runs `body(rng, record)` in a forked child until the run ends; returns its pid.
  template <typename Body>
  pid_t spawn(unsigned seed, const RunEnd& end, Body body) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    struct sigaction action {};
    action.sa_handler = on_alarm;  // no SA_RESTART: a blocking take ends with EINTR
    sigaction(SIGALRM, &action, nullptr);
    std::mt19937 rng(seed);
    std::vector<int> records;
    for (std::size_t t = 0; t < kTargets.size(); ++t)
      records.push_back(
          open(record_of(t).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    int errors = open(errors_file().c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    while (!end.over())
      body(rng, records, errors);
    _exit(0);
  }

  static void log(int fd, char mode, const char* what) {
    dprintf(fd, "%c %d %s\n", mode, getpid(), what);
  }
  static void error(int fd, const std::string& what) {
    dprintf(fd, "pid %d: %s\n", getpid(), what.c_str());
  }
  static void hold_a_moment(std::mt19937& rng) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1500));
  }
  static void maybe_arm_alarm(std::mt19937& rng) {
    itimerval timer{};
    if (rng() % 4 == 0) timer.it_value.tv_usec = 200 + static_cast<long>(rng() % 3000);
    setitimer(ITIMER_REAL, &timer, nullptr);
  }
  static void disarm_alarm() {
    itimerval timer{};
    setitimer(ITIMER_REAL, &timer, nullptr);
  }

  // One round of a client through the mount.
  void mount_round(std::mt19937& rng, const std::vector<int>& records, int errors) {
    std::size_t t = rng() % kTargets.size();
    bool exclusive = rng() % 2 == 0, blocking = rng() % 3 != 0;
    int flags = (exclusive ? O_RDWR : O_RDONLY) | (blocking ? 0 : O_NONBLOCK) | O_CLOEXEC;
    if (blocking) maybe_arm_alarm(rng);
    int fd = open(node_of(kTargets[t]).c_str(), flags);
    int open_errno = errno;
    disarm_alarm();
    if (fd < 0) {
      bool expected = blocking ? open_errno == EINTR : open_errno == EWOULDBLOCK;
      if (!expected) error(errors, "open " + kTargets[t] + ": " + std::strerror(open_errno));
      return;
    }
    char mode = exclusive ? 'X' : 'S';
    log(records[t], mode, "enter");
    hold_a_moment(rng);
    if (rng() % 5 == 0) {  // flock(2) conversion on the node: not atomic, like flock(2)
      log(records[t], mode, "leave");
      mode = mode == 'X' ? 'S' : 'X';
      int op = (mode == 'X' ? LOCK_EX : LOCK_SH) | (rng() % 2 ? LOCK_NB : 0);
      if (!(op & LOCK_NB)) maybe_arm_alarm(rng);
      int rc = flock(fd, op);
      int flock_errno = errno;
      disarm_alarm();
      if (rc != 0) {
        if (flock_errno != EWOULDBLOCK && flock_errno != EINTR) {
          error(errors, "flock " + kTargets[t] + ": " + std::strerror(flock_errno));
        }
        close(fd);
        return;
      }
      log(records[t], mode, "enter");
      hold_a_moment(rng);
    }
    log(records[t], mode, "leave");
    if (mode == 'X' && t < 2 && rng() % 8 == 0) {  // destroy while holding: PBS's prune
      if (unlink(node_of(kTargets[t]).c_str()) != 0) {
        error(errors, "unlink " + kTargets[t] + " while holding: " + std::strerror(errno));
      }
    }
    close(fd);
  }

  // One round of a direct client using the core library's PBS protocol.
  void direct_round(const LockRoot& root, std::mt19937& rng, const std::vector<int>& records,
                    int errors) {
    std::size_t t = rng() % kTargets.size();
    auto object = LockObject::parse("store1", {}, kTargets[t], false);
    LockMode lock_mode = rng() % 2 == 0 ? LockMode::kExclusive : LockMode::kShared;
    LockRequest request{*object, lock_mode, "", true};
    Result<Lock> lock = rng() % 3 == 0
                            ? try_lock(root, request)
                            : lock_waiting(root, request, std::chrono::milliseconds(rng() % 20));
    if (!lock) {
      int code = lock.error().code;
      if (code != EWOULDBLOCK && code != ETIMEDOUT)
        error(errors, "direct: " + lock.error().message);
      return;
    }
    char mode = lock_mode == LockMode::kExclusive ? 'X' : 'S';
    log(records[t], mode, "enter");
    hold_a_moment(rng);
    if (rng() % 5 == 0) {
      log(records[t], mode, "leave");
      LockMode other = lock_mode == LockMode::kExclusive ? LockMode::kShared : LockMode::kExclusive;
      auto converted = lock->convert(other);
      if (!converted) {
        if (converted.error().code != EWOULDBLOCK) error(errors, converted.error().message);
        return;
      }
      mode = mode == 'X' ? 'S' : 'X';
      log(records[t], mode, "enter");
      hold_a_moment(rng);
    }
    log(records[t], mode, "leave");
    if (mode == 'X' && t < 2 && rng() % 8 == 0) {
      auto removed = remove_lock_files(root, snapshot_removal(*object, ""), &*lock);
      if (!removed) error(errors, "direct destroy: " + removed.error().message);
    }
  }

  // A client through the mount that keeps no record and is killed at random moments.
  void victim_round(std::mt19937& rng) {
    std::size_t t = rng() % kTargets.size();
    int fd = open(node_of(kTargets[t]).c_str(), (rng() % 2 ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    hold_a_moment(rng);
    if (fd >= 0) close(fd);
  }

  long daemon_fds() const {
    std::error_code ec;
    long n = 0;
    for (auto it = std::filesystem::directory_iterator(
             "/proc/" + std::to_string(daemon_->daemon_pid()) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); ++it)
      ++n;
    return n;
  }
};

// Whether nobody holds the lock of `file`: it can be flocked exclusively, or it does not exist
// (a destroy while holding, the last thing a client did, removed it: nothing to hold then). Once
// this checked only the flock, and a run whose last event was such a destroy failed as "still
// held" (issue: the stress test's flaky "is still held").
bool nobody_holds(const std::string& file) {
  struct stat st {};
  if (lstat(file.c_str(), &st) != 0 && errno == ENOENT) return true;
  return other_process_can_flock(file, LOCK_EX);
}

TEST(MutualExclusionEnd, ALockFileRemovedByTheLastDestroyIsNotHeld) {
  TempDir dir;
  EXPECT_TRUE(nobody_holds(dir / "removed-by-a-destroy"));
  write_file(dir / "lock", "");
  EXPECT_TRUE(nobody_holds(dir / "lock"));
  FlockHolder holder(dir / "lock", LOCK_SH);
  EXPECT_FALSE(nobody_holds(dir / "lock"));
}

// Replays a record; returns the overlaps found (empty: none) and counts the enters.
std::string overlaps_in(const std::string& record, int* exclusive_enters, int* shared_enters) {
  std::ifstream in(record);
  std::string line, found;
  pid_t exclusive = 0;
  std::multiset<pid_t> shared;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream fields(line);
    char mode;
    pid_t pid;
    std::string what;
    fields >> mode >> pid >> what;
    bool enter = what == "enter";
    if (mode == 'X' && enter) {
      ++*exclusive_enters;
      if (exclusive != 0 || !shared.empty()) {
        found +=
            "line " + std::to_string(n) + ": " + line + " while held by " +
            (exclusive ? std::to_string(exclusive) : std::to_string(shared.size()) + " shared") +
            "\n";
      }
      exclusive = pid;
    } else if (mode == 'X') {
      exclusive = 0;
    } else if (enter) {
      ++*shared_enters;
      if (exclusive != 0) {
        found += "line " + std::to_string(n) + ": " + line + " while " + std::to_string(exclusive) +
                 " holds it exclusively\n";
      }
      shared.insert(pid);
    } else if (auto it = shared.find(pid); it != shared.end()) {
      shared.erase(it);
    }
  }
  return found;
}

TEST(MutualExclusionRecord, TheReplayFindsEveryKindOfOverlap) {
  TempDir dir;
  auto replay = [&](const std::string& text) {
    write_file(dir / "record", text);
    int exclusive = 0, shared = 0;
    return overlaps_in(dir / "record", &exclusive, &shared);
  };
  EXPECT_EQ(replay("X 1 enter\nX 1 leave\nS 2 enter\nS 3 enter\nS 2 leave\nS 3 leave\n"), "");
  EXPECT_NE(replay("X 1 enter\nX 2 enter\n"), "");                        // two exclusive
  EXPECT_NE(replay("S 1 enter\nX 2 enter\n"), "");                        // exclusive while shared
  EXPECT_NE(replay("X 1 enter\nS 2 enter\n"), "");                        // shared while exclusive
  EXPECT_NE(replay("S 1 enter\nS 2 enter\nS 1 leave\nX 3 enter\n"), "");  // one shared left
}

/// What each descriptor of process `pid` refers to, a line each.
std::string descriptors_of(pid_t pid) {
  std::string out;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    out += entry.path().filename().string() + " -> " +
           std::filesystem::read_symlink(entry.path(), ec).string() + "\n";
  }
  return out;
}

/// Asks the daemon for one upgrade in place and waits for its outcome: true when it was done.
bool upgrade_once(const std::string& mount, pid_t daemon) {
  const std::string before = mount_status(mount, "upgrade attempts");
  if (kill(daemon, SIGUSR2) != 0) return false;
  std::string after;
  eventually([&] { return (after = mount_status(mount, "upgrade attempts")) != before; },
             std::chrono::seconds(30));
  return after != before && mount_status(mount, "last upgrade").rfind("done", 0) == 0;
}

void MutualExclusionStress::run(bool upgrading) {
  // The descriptors are counted in the program image that serves the rest, after the first
  // opens (which make some of them, once per image).
  if (upgrading) {
    ASSERT_TRUE(upgrade_once(mnt_, daemon_->daemon_pid())) << daemon_->log();
  }
  for (const auto& target : kTargets)
    ASSERT_EQ(child_open_errno(node_of(target), O_RDONLY), 0);  // lock files exist
  std::this_thread::sleep_for(100ms);
  const long fds_before = daemon_fds();
  auto owner = Owner::lookup("backup", "backup");
  auto root = LockRoot::open(locks_, *owner);
  ASSERT_TRUE(root.ok());

  // Upgrading, until the upgrades were done: the switches are what is tested.
  const auto started = Clock::now();
  const auto deadline = started + (upgrading ? kUpgradingRunLimit : stress_duration());
  RunEnd end;
  std::vector<pid_t> workers;
  unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::printf("seed %u\n", seed);
  for (int i = 0; i < 6; ++i) {
    workers.push_back(spawn(
        seed + i, end,
        [&](std::mt19937& rng, const std::vector<int>& r, int e) { mount_round(rng, r, e); }));
  }
  for (int i = 0; i < 4; ++i) {
    workers.push_back(
        spawn(seed + 100 + i, end, [&](std::mt19937& rng, const std::vector<int>& r, int e) {
          direct_round(*root, rng, r, e);
        }));
  }
  // Victims: SIGKILLed at random moments, holding, waiting or in between, and replaced.
  std::mt19937 rng(seed + 1000);
  int killed = 0;
  std::vector<pid_t> victims;
  auto victim = [&](unsigned s) {
    return spawn(s, end, [&](std::mt19937& r, const std::vector<int>&, int) { victim_round(r); });
  };
  for (int i = 0; i < 2; ++i)
    victims.push_back(victim(seed + 2000 + i));
  // The upgrades: one after the other, each at a random moment, until enough were done.
  const int wanted = stress_upgrades();
  std::atomic<int> upgrades{0}, refused{0};
  std::thread upgrader;
  if (upgrading) {
    upgrader = std::thread([&, daemon = daemon_->daemon_pid()] {
      std::mt19937 pace(seed + 5000);
      while (upgrades < wanted && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pace() % 20));
        (upgrade_once(mnt_, daemon) ? upgrades : refused)++;
      }
    });
  }
  while (Clock::now() < deadline && (!upgrading || upgrades < wanted)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 50));
    pid_t& v = victims[rng() % victims.size()];
    kill(v, SIGKILL);
    waitpid(v, nullptr, 0);
    ++killed;
    v = victim(seed + 3000 + killed);
  }
  end.end();
  if (upgrader.joinable()) upgrader.join();
  const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
  for (pid_t v : victims) {
    kill(v, SIGKILL);
    waitpid(v, nullptr, 0);
  }
  for (pid_t w : workers)
    EXPECT_EQ(wait_exit_code(w), 0);

  std::ifstream errors(errors_file());
  std::stringstream error_text;
  error_text << errors.rdbuf();
  EXPECT_EQ(error_text.str(), "") << "unexpected errors";
  for (std::size_t t = 0; t < kTargets.size(); ++t) {
    int exclusive = 0, shared = 0;
    EXPECT_EQ(overlaps_in(record_of(t), &exclusive, &shared), "") << kTargets[t];
    // The stress really happened.
    EXPECT_GT(exclusive, 50) << kTargets[t];
    EXPECT_GT(shared, 50) << kTargets[t];
    std::printf("%s: %d exclusive and %d shared holds recorded\n", kTargets[t].c_str(), exclusive,
                shared);
  }
  std::printf("%d holders killed in %.1f s\n", killed, seconds);
  EXPECT_GT(killed, 20);
  if (upgrading) {
    // A switch refused for a moment (a request between the queue and its answer) is allowed,
    // a lock lost or doubled across one is not (the checks above and below).
    std::printf("%d upgrades in place, %d refused for the moment\n", upgrades.load(),
                refused.load());
    EXPECT_GE(upgrades, wanted) << "in " << seconds << " s";
  }
  for (const auto& target : kTargets) {
    EXPECT_TRUE(eventually([&] { return nobody_holds(lock_file(target)); }))
        << target << " is still held";
  }
  EXPECT_TRUE(eventually([&] { return daemon_fds() == fds_before; }))
      << daemon_fds() << " daemon descriptors, " << fds_before << " before:\n"
      << descriptors_of(daemon_->daemon_pid());
  EXPECT_TRUE(eventually([&] {
    std::ifstream in(mnt_ + "/.pbs-lockfs");
    std::string status((std::istreambuf_iterator<char>(in)), {});
    return status.find("open handles: 0\n") != std::string::npos &&
           status.find("waiting: 0\n") != std::string::npos;
  })) << "the daemon still counts handles or waiters";
  for (auto& entry : std::filesystem::recursive_directory_iterator(locks_)) {
    struct stat st {};
    ASSERT_EQ(lstat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 34u) << entry.path();
    EXPECT_EQ(st.st_gid, 34u) << entry.path();
    EXPECT_EQ(st.st_mode & 07777, S_ISDIR(st.st_mode) ? 0755u : 0660u) << entry.path();
    EXPECT_TRUE(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) << entry.path();
  }
}

TEST_F(MutualExclusionStress, NoLockIsEverDoubledLostOrLeftBehind) {
  run(false);
}

TEST_F(MutualExclusionStress, NoLockIsEverDoubledLostOrLeftBehindAcrossUpgrades) {
  run(true);
}

}  // namespace
}  // namespace pbs::test
