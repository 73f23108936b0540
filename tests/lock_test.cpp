// The lock primitive against plain flock(2) and flock(1) in other processes: PBS's protocol,
// ownership and modes, the double-stat race, waiting, and symlinks planted in the lock tree.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "lock_fixture.hpp"
#include "lock_wait.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;

class LockTest : public LockTreeTest {};

TEST_F(LockTest, CreatesLockFileAndDirectoriesAsBackup0660And0755) {
  mode_t old_umask = umask(077);  // PBS's modes must not depend on the caller's umask
  auto req = request("vm/100/2024-01-01T00:00:00Z", LockMode::kExclusive, "a/b");
  auto lock = try_lock(*root_, req);
  umask(old_umask);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  std::string file = path_of(req);
  EXPECT_EQ(file, root_path_ + "/store1/a:b/vm-100-2024\\x2d01\\x2d01T00\\x3a00\\x3a00Z");
  auto st = stat_of(file);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, backup_.uid);
  EXPECT_EQ(st.st_gid, backup_.gid);
  EXPECT_EQ(st.st_size, 0);
  for (auto dir : {root_path_ + "/store1", root_path_ + "/store1/a:b"}) {
    auto d = stat_of(dir);
    EXPECT_TRUE(S_ISDIR(d.st_mode)) << dir;
    EXPECT_EQ(d.st_mode & 07777, 0755u) << dir;
    EXPECT_EQ(d.st_uid, backup_.uid) << dir;
    EXPECT_EQ(d.st_gid, backup_.gid) << dir;
  }
  // No temporary file is left beside it.
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(root_path_ + "/store1/a:b")) {
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(LockTest, HashedLockFileGoesIntoHashedDirectory) {
  auto req = request("host/" + std::string(300, 'h'), LockMode::kExclusive);
  auto lock = try_lock(*root_, req);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_EQ(stat_of(root_path_ + "/store1/hashed").st_uid, backup_.uid);
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_SH));
}

TEST_F(LockTest, ExclusiveExcludesAnotherProcessUntilReleased) {
  auto req = request("vm/100", LockMode::kExclusive);
  auto lock = try_lock(*root_, req);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_SH));
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_EX));
  lock->release();
  EXPECT_TRUE(other_process_can_flock(path_of(req), LOCK_EX));
}

TEST_F(LockTest, SharedAdmitsSharedButNotExclusive) {
  auto req = request("ct/7/2024-01-01T00:00:00Z", LockMode::kShared);
  auto lock = try_lock(*root_, req);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_TRUE(other_process_can_flock(path_of(req), LOCK_SH));
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_EX));
  auto second = try_lock(*root_, req);
  EXPECT_TRUE(second.ok());
}

TEST_F(LockTest, NonBlockingFailsWithEwouldblockWhileAnotherProcessHolds) {
  auto req = request("vm/100", LockMode::kShared);
  ASSERT_TRUE(try_lock(*root_, req).ok());  // creates the file, then releases
  FlockHolder holder(path_of(req), LOCK_EX);
  auto shared = try_lock(*root_, req);
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.error().code, EWOULDBLOCK);
  holder.release();
  EXPECT_TRUE(try_lock(*root_, req).ok());
}

TEST_F(LockTest, TwoLocksInOneProcessConflictLikeTwoFlocks) {
  auto req = request("vm/100", LockMode::kExclusive);
  auto first = try_lock(*root_, req);
  ASSERT_TRUE(first.ok());
  auto second = try_lock(*root_, req);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, EWOULDBLOCK);
}

TEST_F(LockTest, UtilLinuxFlockCommandAndLibraryExcludeEachOther) {
  auto req = request("host/my.host", LockMode::kExclusive);
  ASSERT_TRUE(try_lock(*root_, req).ok());
  pid_t flock_cmd = spawn_command({"flock", "-o", "-x", path_of(req), "sleep", "600"});
  ASSERT_TRUE(eventually([&] { return !other_process_can_flock(path_of(req), LOCK_SH); }));
  auto busy = try_lock(*root_, req);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, EWOULDBLOCK);
  kill_and_reap(flock_cmd);
  auto lock = lock_waiting(*root_, req, 5s);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  // And the other way round: while the library holds it, flock -n fails with exit code 1.
  pid_t probe = spawn_command({"flock", "-n", "-s", path_of(req), "true"});
  EXPECT_EQ(wait_exit_code(probe), 1);
}

TEST_F(LockTest, WaitingIsGrantedWhenTheHolderExits) {
  auto req = request("vm/100", LockMode::kExclusive);
  ASSERT_TRUE(try_lock(*root_, req).ok());
  auto holder = std::make_unique<FlockHolder>(path_of(req), LOCK_SH);
  std::thread releaser([&] {
    std::this_thread::sleep_for(100ms);
    holder->release();
  });
  auto start = std::chrono::steady_clock::now();
  auto lock = lock_waiting(*root_, req, 10s);
  auto waited = std::chrono::steady_clock::now() - start;
  releaser.join();
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_GE(waited, 90ms);
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_SH));
}

TEST_F(LockTest, WaitingNoticesLockUnWithoutClose) {
  auto req = request("vm/101", LockMode::kExclusive);
  auto held = try_lock(*root_, req);
  ASSERT_TRUE(held.ok());
  std::thread unlocker([&] {
    std::this_thread::sleep_for(50ms);
    flock(held->file_fd(), LOCK_UN);  // raises no inotify event: found by the recheck timer
  });
  auto lock = lock_waiting(*root_, req, 10s);
  unlocker.join();
  EXPECT_TRUE(lock.ok()) << lock.error().message;
}

TEST_F(LockTest, WaitingTimesOutWithEtimedout) {
  auto req = request("vm/100", LockMode::kShared);
  ASSERT_TRUE(try_lock(*root_, req).ok());
  FlockHolder holder(path_of(req), LOCK_EX);
  auto start = std::chrono::steady_clock::now();
  auto lock = lock_waiting(*root_, req, 200ms);
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ETIMEDOUT);
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 2s);
}

TEST_F(LockTest, WaitingCanBeCancelledFromAnotherThread) {
  auto req = request("vm/100", LockMode::kExclusive);
  ASSERT_TRUE(try_lock(*root_, req).ok());
  FlockHolder holder(path_of(req), LOCK_SH);
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancel.cancel();
  });
  auto lock = lock_waiting(*root_, req, std::nullopt, &cancel);
  canceller.join();
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ECANCELED);
  holder.release();
  EXPECT_TRUE(other_process_can_flock(path_of(req), LOCK_EX));  // nothing was left held
}

TEST_F(LockTest, DoubleStatStartsAgainOnTheFileNowAtThePath) {
  auto req = request("vm/100/2024-01-01T00:00:00Z", LockMode::kExclusive);
  auto holder = try_lock(*root_, req);
  ASSERT_TRUE(holder.ok());
  // The acquirer opens the current (old) file, then the holder removes it while holding it,
  // as PBS's destroy does, and lets go: the old inode is free, but no longer the lock.
  auto pending = PendingLock::open(*root_, req);
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE(holder->remove_file().ok());
  holder->release();
  auto lock = pending->try_take();
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  struct stat held {};
  ASSERT_EQ(fstat(lock->file_fd(), &held), 0);
  auto at_path = stat_of(path_of(req));
  EXPECT_EQ(held.st_ino, at_path.st_ino);
  EXPECT_EQ(pending->generation(), 2u);  // it had to open the new file
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_EX));
}

TEST_F(LockTest, DoubleStatRaceWithAWaitingAcquirer) {
  auto req = request("vm/100/2024-01-01T00:00:00Z", LockMode::kExclusive);
  auto holder = try_lock(*root_, req);
  ASSERT_TRUE(holder.ok());
  Result<Lock> waited = Error{};
  std::thread waiter([&] { waited = lock_waiting(*root_, req, 10s); });
  std::this_thread::sleep_for(100ms);  // let the waiter open the old file and start waiting
  ASSERT_TRUE(holder->remove_file().ok());
  holder->release();
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.error().message;
  struct stat held {};
  ASSERT_EQ(fstat(waited->file_fd(), &held), 0);
  EXPECT_EQ(held.st_ino, stat_of(path_of(req)).st_ino);
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_SH));
}

TEST_F(LockTest, ConversionChangesTheModeOnTheSameFile) {
  auto req = request("vm/100", LockMode::kShared);
  auto lock = try_lock(*root_, req);
  ASSERT_TRUE(lock.ok());
  EXPECT_TRUE(other_process_can_flock(path_of(req), LOCK_SH));
  ASSERT_TRUE(lock->convert(LockMode::kExclusive).ok());
  EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_SH));
  ASSERT_TRUE(lock->convert(LockMode::kShared).ok());
  EXPECT_TRUE(other_process_can_flock(path_of(req), LOCK_SH));
}

TEST_F(LockTest, LockRootAndMissingParentsAreCreatedAsBackup0755LikePbsRunDir) {
  // On a host where PBS has not run yet, /run/proxmox-backup is missing too.
  std::string run = dir_ / "run";
  make_directories(run);
  auto root = LockRoot::open(run + "/proxmox-backup/locks/", backup_);
  ASSERT_TRUE(root.ok()) << root.error().message;
  EXPECT_EQ(root->path(), run + "/proxmox-backup/locks");
  for (const std::string& created : {run + "/proxmox-backup", run + "/proxmox-backup/locks"}) {
    struct stat st = stat_of(created);
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << created;
    EXPECT_EQ(st.st_mode & 07777, 0755u) << created;
    EXPECT_EQ(st.st_uid, backup_.uid) << created;
    EXPECT_EQ(st.st_gid, backup_.gid) << created;
  }
  EXPECT_EQ(stat_of(run).st_uid, 0u);  // what existed is left as it was
  auto lock = try_lock(*root, request("vm/100", LockMode::kExclusive));
  EXPECT_TRUE(lock.ok());
}

TEST_F(LockTest, ASymlinkAsLockRootIsRefusedAndNothingIsCreatedThroughIt) {
  std::string elsewhere = dir_ / "elsewhere";
  make_directories(elsewhere);
  ASSERT_EQ(symlink(elsewhere.c_str(), (dir_ / "locks-link").c_str()), 0);
  auto root = LockRoot::open(dir_ / "locks-link", backup_);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().code, ELOOP);
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
  EXPECT_FALSE(LockRoot::open("relative/locks", backup_).ok());
}

TEST_F(LockTest, SymlinkedStoreDirectoryIsRefusedAndNotFollowed) {
  std::string elsewhere = dir_ / "elsewhere";
  make_directories(elsewhere);
  ASSERT_EQ(symlink(elsewhere.c_str(), (root_path_ + "/store1").c_str()), 0);
  auto lock = try_lock(*root_, request("vm/100", LockMode::kExclusive));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ELOOP);
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
}

TEST_F(LockTest, SymlinkedNamespaceDirectoryIsRefused) {
  std::string elsewhere = dir_ / "elsewhere";
  make_directories(elsewhere);
  make_directories(root_path_ + "/store1");
  ASSERT_EQ(symlink(elsewhere.c_str(), (root_path_ + "/store1/a:b").c_str()), 0);
  auto lock = try_lock(*root_, request("vm/100", LockMode::kExclusive, "a/b"));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ELOOP);
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
}

TEST_F(LockTest, SymlinkPlantedAsLockFileIsRefusedAndTargetUntouched) {
  std::string target = dir_ / "precious";
  write_file(target, "do not touch");
  chmod(target.c_str(), 0600);
  make_directories(root_path_ + "/store1");
  ASSERT_EQ(symlink(target.c_str(), (root_path_ + "/store1/vm-100").c_str()), 0);
  auto lock = try_lock(*root_, request("vm/100", LockMode::kExclusive));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ELOOP);
  auto st = stat_of(target);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(other_process_can_flock(target, LOCK_EX));
}

TEST_F(LockTest, NonRegularLockFileIsRefused) {
  make_directories(root_path_ + "/store1");
  ASSERT_EQ(mkfifo((root_path_ + "/store1/vm-100").c_str(), 0600), 0);
  auto lock = try_lock(*root_, request("vm/100", LockMode::kExclusive));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, EINVAL);
}

TEST_F(LockTest, WithoutCreateAMissingLockFileIsEnoentAndNothingIsCreated) {
  auto req = request("vm/100", LockMode::kExclusive, "a");
  req.create = false;
  auto lock = try_lock(*root_, req);
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ENOENT);
  EXPECT_TRUE(std::filesystem::is_empty(root_path_));
}

TEST_F(LockTest, OldLockingAlsoFlocksTheDatastoreDirectoryWhileTheMarkerExists) {
  std::string snapshot_dir = datastore_path_ + "/vm/100/2024-01-01T00:00:00Z";
  make_directories(snapshot_dir);
  auto req = request("vm/100/2024-01-01T00:00:00Z", LockMode::kExclusive);
  {
    auto lock = try_lock(*root_, req);
    ASSERT_TRUE(lock.ok());
    EXPECT_TRUE(other_process_can_flock(snapshot_dir, LOCK_EX));  // no marker: file only
  }
  write_file(marker_path_, "");
  {
    auto lock = try_lock(*root_, req);
    ASSERT_TRUE(lock.ok()) << lock.error().message;
    EXPECT_FALSE(other_process_can_flock(snapshot_dir, LOCK_SH));
    EXPECT_FALSE(other_process_can_flock(path_of(req), LOCK_SH));
  }
  EXPECT_TRUE(other_process_can_flock(snapshot_dir, LOCK_EX));
  // An old PBS process holding the directory makes us fail, without keeping the file locked.
  FlockHolder old_pbs(snapshot_dir, LOCK_EX);
  auto busy = try_lock(*root_, req);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, EWOULDBLOCK);
  EXPECT_TRUE(other_process_can_flock(path_of(req), LOCK_EX));
}

}  // namespace
}  // namespace pbs::test

namespace pbs {
namespace {

// Out of descriptors, a CancelToken has no eventfd: cancel() must still be seen (it once was
// lost, and a wait could not be ended).
TEST(CancelTokenTest, ACancelIsSeenEvenWithoutADescriptor) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit none = saved;
  none.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &none), 0);
  CancelToken token;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(token.fd(), -1);
  EXPECT_FALSE(token.cancelled());
  token.cancel();
  EXPECT_TRUE(token.cancelled());
}

}  // namespace
}  // namespace pbs
