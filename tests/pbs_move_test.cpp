// PBS 4.2 moves groups and namespaces; the mount's tree follows, and a lock through the mount
// takes part in the move's locking exactly like a PBS task's lock.
//
// The move, as PBS 4.2 does it (pbs-datastore/src/datastore.rs, move group / move namespace,
// with BackupGroup::lock and BackupDir::lock of backup_info.rs; sequence as read there):
//   1. flock `<lock root>/<store>/move-journal` exclusively (held for up to 10 s);
//   2. lock the source group exclusively, then the target group (created in the target
//      namespace), both without waiting: busy means the move fails ("unable to acquire lock");
//   3. in batches: lock each snapshot and its manifest exclusively (no waiting either), move the
//      snapshot's directory, then unlink the source snapshot's and manifest's lock files while
//      still holding them (the destroy protocol: whoever opened the old file fails the
//      double-stat and starts again), and release;
//   4. the source group's own lock file is left in place.
// `PbsMove` below plays that part from another process, with the core library's PBS protocol.
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "lock.hpp"
#include "lock_root.hpp"
#include "mount_fixture.hpp"
#include "other_process.hpp"
#include "owner.hpp"

namespace pbs::test {
namespace {

namespace fsys = std::filesystem;

constexpr const char* kTime1 = "2024-01-01T00:00:00Z";
constexpr const char* kTime2 = "2024-01-02T00:00:00Z";

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  std::error_code error;
  for (auto it = fsys::directory_iterator(dir, error); !error && it != fsys::directory_iterator();
       it.increment(error)) {
    names.insert(it->path().filename());
  }
  return names;
}

std::string xattr(const std::string& path, const char* name) {
  char value[8192];
  ssize_t n = getxattr(path.c_str(), name, value, sizeof value);
  return n < 0 ? std::string("(") + strerror(errno) + ")" : std::string(value, n);
}

// One group to move: where it is and where it goes, and its snapshots' times.
struct GroupMove {
  std::string from_ns, to_ns;
  BackupGroup group;
  std::vector<std::string> times;
};

// A PBS 4.2 move in a child process. It takes the locks (steps 1-3 above, up to the moment
// before anything moves), reports, and waits for go() before moving the datastore directories
// (`renames`, relative to the datastore) and unlinking the lock files. Exit code 0: moved;
// 3: a lock was busy and nothing was moved, as PBS's move then fails.
class PbsMove {
 public:
  PbsMove(const std::string& locks, const std::string& datastore, std::vector<GroupMove> groups,
          std::vector<std::pair<std::string, std::string>> renames) {
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(go[1]);
      _exit(run(locks, datastore, groups, renames, ready[1], go[0]));
    }
    close(ready[1]);
    close(go[0]);
    go_ = go[1];
    char report = 0;
    locked_ = read(ready[0], &report, 1) == 1 && report == 'L';
    close(ready[0]);
  }
  ~PbsMove() {
    if (pid_ > 0) finish();
  }
  /// Whether the child holds every lock of the move (false: one was busy, the move failed).
  bool locked() const { return locked_; }
  /// Lets the move go on and returns its exit code.
  int finish() {
    if (go_ >= 0) {
      // A move that failed to lock has exited already: writing to it would be SIGPIPE.
      if (locked_) [[maybe_unused]]
        auto n = write(go_, "g", 1);
      close(go_);
      go_ = -1;
    }
    int code = wait_exit_code(pid_);
    pid_ = -1;
    return code;
  }

 private:
  static int run(const std::string& locks, const std::string& datastore,
                 const std::vector<GroupMove>& groups,
                 const std::vector<std::pair<std::string, std::string>>& renames, int ready,
                 int go) {
    auto fail = [&](const char* step = "lock") {
      std::fprintf(stderr, "PBS move: %s failed\n", step);
      [[maybe_unused]] auto n = write(ready, "F", 1);
      return 3;
    };
    auto root = LockRoot::open(locks, Owner{34, 34});
    if (!root) return fail(root.error().message.c_str());
    std::string store_locks = locks + "/store1";  // PBS creates it with the datastore
    if (mkdir(store_locks.c_str(), 0755) == 0 && chown(store_locks.c_str(), 34, 34) != 0)
      return fail("lock directory");
    int journal =
        open((locks + "/store1/move-journal").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    if (journal < 0 || fchown(journal, 34, 34) != 0 || flock(journal, LOCK_EX | LOCK_NB) != 0)
      return fail(strerror(errno));
    auto lock = [&](LockObject object) {
      return try_lock(*root, {std::move(object), LockMode::kExclusive, datastore, true});
    };
    std::vector<Lock> groups_held, snapshots_held;
    for (const auto& g : groups) {
      auto source = lock(LockObject::group_lock("store1", *Namespace::parse(g.from_ns), g.group));
      if (!source) return fail(source.error().message.c_str());
      groups_held.push_back(std::move(*source));
      auto target = lock(LockObject::group_lock("store1", *Namespace::parse(g.to_ns), g.group));
      if (!target) return fail(target.error().message.c_str());
      groups_held.push_back(std::move(*target));
      for (const auto& time : g.times) {
        BackupSnapshot snapshot{g.group, time};
        auto ns = *Namespace::parse(g.from_ns);
        auto s = lock(LockObject::snapshot_lock("store1", ns, snapshot));
        if (!s) return fail(s.error().message.c_str());
        snapshots_held.push_back(std::move(*s));
        auto m = lock(LockObject::manifest_lock("store1", ns, snapshot));
        if (!m) return fail(m.error().message.c_str());
        snapshots_held.push_back(std::move(*m));
      }
    }
    [[maybe_unused]] auto n = write(ready, "L", 1);
    char c;
    if (read(go, &c, 1) != 1) return 4;
    for (const auto& [from, to] : renames) {
      fsys::create_directories(fsys::path(datastore + "/" + to).parent_path());
      if (rename((datastore + "/" + from).c_str(), (datastore + "/" + to).c_str()) != 0) return 5;
    }
    for (auto& held : snapshots_held) {
      if (!held.remove_file()) return 6;
    }
    return 0;  // exiting releases every lock, the journal last
  }

  pid_t pid_ = -1;
  int go_ = -1;
  bool locked_ = false;
};

class PbsMoveTest : public MountTest {
 protected:
  std::string snapshot(const std::string& ns_path, const char* time) const {
    return ns_path + "vm/100/" + time;
  }
  // vm/100 (two snapshots) from the root namespace into `prod`, as PBS 4.2's move group does.
  GroupMove vm100_to_prod() const {
    return {"", "prod", {BackupType::kVm, "100"}, {kTime1, kTime2}};
  }
  // The whole group directory goes (snapshots, owner, notes): the source group is left empty.
  std::vector<std::pair<std::string, std::string>> vm100_renames() const {
    return {{"vm/100", "ns/prod/vm/100"}};
  }
  // The datastore is PBS's to change: from here on the daemon must leave the new state as is.
  void datastore_changed_by_pbs() { fingerprint_ = tree_fingerprint(datastore_); }
};

TEST_F(PbsMoveTest, TheTreeFollowsAMovedGroup) {
  ASSERT_TRUE(exists(node(kSnap1)));  // the kernel caches the old names now
  ASSERT_TRUE(exists(node(kSnap2)));
  ASSERT_FALSE(exists(node("ns/prod/vm/100")));
  {
    PbsMove move(locks_, datastore_, {vm100_to_prod()}, vm100_renames());
    ASSERT_TRUE(move.locked());
    ASSERT_EQ(move.finish(), 0);
  }
  datastore_changed_by_pbs();

  // The snapshots left the old group (its lock file stays, as PBS leaves it) ...
  EXPECT_EQ(listing(node("vm/100")), (std::set<std::string>{".lock"}));
  EXPECT_TRUE(eventually([&] { return !exists(node(kSnap1)); }, std::chrono::seconds(3)))
      << "a moved snapshot's old name still answers after the entry timeout";
  EXPECT_FALSE(exists(lock_file(kSnap1)));
  EXPECT_FALSE(exists(lock_file(kSnap1, "", true)));
  EXPECT_EQ(xattr(node("vm/100/.lock"), "user.pbs.stale"), "yes");
  // ... and appear in the new one, where a lock is the lock PBS takes there.
  EXPECT_EQ(listing(node("ns/prod/vm/100")),
            (std::set<std::string>{".lock", kTime1, kTime2, std::string(".") + kTime1 + ".manifest",
                                   std::string(".") + kTime2 + ".manifest"}));
  std::string moved = node(std::string("ns/prod/vm/100/") + kTime1);
  int fd = open(moved.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1, "prod"), LOCK_SH));
  EXPECT_EQ(xattr(moved, "user.pbs.stale"), "no");
  close(fd);
  EXPECT_TRUE(
      eventually([&] { return other_process_can_flock(lock_file(kSnap1, "prod"), LOCK_EX); }));
}

TEST_F(PbsMoveTest, AHoldThroughTheMountStopsTheMoveLikeAPbsTasksHold) {
  for (const char* held : {"vm/100/.lock", kSnap2}) {
    SCOPED_TRACE(held);
    NodeHolder holder(node(held), O_RDONLY);
    ASSERT_EQ(holder.error(), 0);
    PbsMove move(locks_, datastore_, {vm100_to_prod()}, vm100_renames());
    EXPECT_FALSE(move.locked()) << "PBS's move got an exclusive lock the mount holds shared";
    EXPECT_EQ(move.finish(), 3);
    EXPECT_FALSE(other_process_can_flock(lock_file(held == kSnap2 ? kSnap2 : "vm/100"), LOCK_EX));
  }
  EXPECT_TRUE(exists(node(kSnap1)));
  EXPECT_TRUE(exists(node(kSnap2)));
  // Only the target group's lock file is left behind, as PBS's failed move leaves it.
  EXPECT_EQ(listing(node("ns/prod/vm/100")), (std::set<std::string>{".lock"}));
}

// An open through the mount that waits while the move holds the snapshot ends like a PBS task's
// wait: the old file fails the double-stat, the lock is taken on a new file at the old name. That
// name no longer protects the moved backup; the holder is told so (README, "Removing").
TEST_F(PbsMoveTest, AWaiterForAMovedSnapshotHoldsTheOldNameAndIsToldSo) {
  PbsMove move(locks_, datastore_, {vm100_to_prod()}, vm100_renames());
  ASSERT_TRUE(move.locked());
  const std::string snap1 = node(kSnap1);
  HoldingChild waiter([&] { return open(snap1.c_str(), O_RDONLY) >= 0 ? 0 : errno; }, false);
  EXPECT_EQ(waiter.result(300), -1) << "the open did not wait for PBS's exclusive lock";
  ASSERT_EQ(move.finish(), 0);
  datastore_changed_by_pbs();
  ASSERT_EQ(waiter.result(3000), 0) << "the waiter was not served after the move";

  // Like PBS's own lock_helper: a new lock file at the old name, held.
  EXPECT_FALSE(other_process_can_flock(lock_file(kSnap1), LOCK_EX));
  // That name no longer protects the moved snapshot: PBS (here: an exclusive open) locks it.
  EXPECT_EQ(child_open_errno(node(std::string("ns/prod/vm/100/") + kTime1), O_WRONLY | O_NONBLOCK),
            0);
  EXPECT_EQ(xattr(node(kSnap1), "user.pbs.stale"), "yes");
  std::string status = xattr(node(kSnap1), "user.pbs.status");
  EXPECT_NE(status.find("the datastore has no such snapshot"), std::string::npos) << status;
  EXPECT_NE(status.find("state: shared"), std::string::npos) << status;
}

TEST_F(PbsMoveTest, TheTreeFollowsAMovedNamespace) {
  const std::string snap = "vm/300/2024-04-01T00:00:00Z";
  ASSERT_TRUE(exists(node("ns/prod/" + snap)));
  {
    PbsMove move(locks_, datastore_,
                 {{"prod", "archive", {BackupType::kVm, "300"}, {"2024-04-01T00:00:00Z"}},
                  {"prod/site-a", "archive/site-a", {BackupType::kHost, "db1"}, {}}},
                 {{"ns/prod", "ns/archive"}});
    ASSERT_TRUE(move.locked());
    ASSERT_EQ(move.finish(), 0);
  }
  datastore_changed_by_pbs();
  EXPECT_TRUE(exists(node("ns/archive/" + snap)));
  EXPECT_TRUE(exists(node("ns/archive/ns/site-a/host/db1/.lock")));
  EXPECT_EQ(listing(node("ns/prod/vm/300")), (std::set<std::string>{".lock"}))
      << "the moved snapshot's node stayed in the old namespace";
  EXPECT_FALSE(exists(lock_file(snap, "prod")));
  int fd = open(node("ns/archive/" + snap).c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_FALSE(other_process_can_flock(lock_file(snap, "archive"), LOCK_SH));
  close(fd);
}

}  // namespace
}  // namespace pbs::test
