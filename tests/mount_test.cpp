// The mount against the real lock files: the tree, lock by open (both directions against plain
// flock(2)), release, removal, old locking, permissions and refused operations.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using Names = std::set<std::string>;

Names list(const std::string& dir) {
  Names out;
  for (auto& e : std::filesystem::directory_iterator(dir))
    out.insert(e.path().filename());
  return out;
}

bool lock_free(const std::string& file, int op = LOCK_EX) {
  return other_process_can_flock(file, op);
}

// A lock file left behind by PBS (backup:backup 0660) for an object the datastore no longer has.
void make_stale_lock_file(const std::string& dir, const std::string& file) {
  make_directories(dir);
  ASSERT_EQ(chown(dir.c_str(), 34, 34), 0);
  int fd = open(file.c_str(), O_CREAT | O_RDWR, 0660);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchown(fd, 34, 34), 0);
  close(fd);
}

TEST_F(MountTest, TreeMirrorsTheDatastoreWithOnlyValidPbsNames) {
  EXPECT_EQ(list(mnt_),
            (Names{".pbs-lockfs", ".pbs-lockfs-events", ".pbs-lockfs-metrics", "store1"}));
  EXPECT_EQ(list(node("")), (Names{"ct", "ns", "vm"}));  // no .chunks, no lxc
  EXPECT_EQ(list(node("vm")), (Names{"100"}));           // no -bad, no symlinked 666
  EXPECT_EQ(list(node("vm/100")),
            (Names{".lock", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z",
                   ".2024-01-01T00:00:00Z.manifest", ".2024-01-02T00:00:00Z.manifest"}));
  EXPECT_EQ(list(node("ns")), (Names{"prod"}));
  EXPECT_EQ(list(node("ns/prod")), (Names{"ns", "vm"}));
  EXPECT_EQ(list(node("ns/prod/ns/site-a/host")), (Names{"db1"}));
  EXPECT_TRUE(std::filesystem::is_regular_file(node(kSnap1)));
  EXPECT_TRUE(std::filesystem::is_directory(node("vm/100")));
  for (auto hidden : {"vm/100/owner", "vm/100/notes", "vm/666", ".chunks", "vm/100/not-a-snapshot",
                      "vm/100/2024-01-03T00:00:00Z", "ns/outside"}) {
    struct stat st {};
    EXPECT_NE(lstat(node(hidden).c_str(), &st), 0) << hidden;
    EXPECT_EQ(errno, ENOENT) << hidden;
  }
}

TEST_F(MountTest, ReadOnlyOpenTakesTheRealSharedLock) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_TRUE(lock_free(lock_file(kSnap1), LOCK_SH));
  EXPECT_FALSE(lock_free(lock_file(kSnap1), LOCK_EX));
  close(fd);
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
}

TEST_F(MountTest, WriteOpenTakesTheRealExclusiveLockUntilClosed) {
  int fd = open(node(kSnap1).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_FALSE(lock_free(lock_file(kSnap1), LOCK_SH));
  close(fd);
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
}

TEST_F(MountTest, ShellRedirectionWithCreateAndTruncateWorks) {
  int fd = open(node(kSnap1).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_FALSE(lock_free(lock_file(kSnap1), LOCK_SH));
  close(fd);
}

TEST_F(MountTest, NonblockingOpenFailsAtOnceWhileADirectHolderHasIt) {
  ASSERT_EQ(child_open_errno(node(kSnap1), O_RDONLY), 0);  // creates the lock file
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  FlockHolder pbs(lock_file(kSnap1), LOCK_EX);
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDWR | O_NONBLOCK), EWOULDBLOCK);
  pbs.release();
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDWR | O_NONBLOCK), 0);
}

TEST_F(MountTest, SharedDirectHolderAdmitsSharedOpensOnly) {
  ASSERT_EQ(child_open_errno(node(kSnap1), O_RDONLY), 0);
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  FlockHolder reader(lock_file(kSnap1), LOCK_SH);
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), 0);
  EXPECT_EQ(child_open_errno(node(kSnap1), O_WRONLY | O_NONBLOCK), EWOULDBLOCK);
}

TEST_F(MountTest, LockIsReleasedWhenTheHolderIsKilled) {
  NodeHolder holder(node(kSnap2), O_RDWR);
  ASSERT_EQ(holder.error(), 0);
  EXPECT_FALSE(lock_free(lock_file(kSnap2)));
  holder.kill_hard();
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap2)); }));
}

TEST_F(MountTest, TwoOpensInOneProcessConflictLikeTwoFlocks) {
  int first = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(first, 0);
  EXPECT_LT(open(node(kSnap1).c_str(), O_RDONLY | O_NONBLOCK), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  close(first);
}

TEST_F(MountTest, GroupAndManifestNodesLockTheirOwnFiles) {
  int group = open(node("vm/100/.lock").c_str(), O_RDWR);
  int manifest = open(node("vm/100/.2024-01-01T00:00:00Z.manifest").c_str(), O_RDONLY);
  int ns_snapshot = open(node("ns/prod/vm/300/2024-04-01T00:00:00Z").c_str(), O_RDWR);
  ASSERT_GE(group, 0);
  ASSERT_GE(manifest, 0);
  ASSERT_GE(ns_snapshot, 0);
  EXPECT_FALSE(lock_free(lock_file("vm/100"), LOCK_SH));
  EXPECT_FALSE(lock_free(lock_file(kSnap1, "", true), LOCK_EX));
  EXPECT_TRUE(lock_free(lock_file(kSnap1, "", true), LOCK_SH));
  EXPECT_FALSE(lock_free(lock_file("vm/300/2024-04-01T00:00:00Z", "prod"), LOCK_SH));
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));  // the snapshot itself: untouched
  close(group);
  close(manifest);
  close(ns_snapshot);
}

TEST_F(MountTest, LockFilesAndDirectoriesAreCreatedBackup0660) {
  int fd = open(node("ns/prod/vm/300/2024-04-01T00:00:00Z").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  struct stat file {
  }, dir{};
  ASSERT_EQ(lstat(lock_file("vm/300/2024-04-01T00:00:00Z", "prod").c_str(), &file), 0);
  ASSERT_EQ(lstat((locks_ + "/store1/prod").c_str(), &dir), 0);
  EXPECT_EQ(file.st_mode & 07777, 0660u);
  EXPECT_EQ(dir.st_mode & 07777, 0755u);
  for (auto* st : {&file, &dir}) {
    EXPECT_EQ(st->st_uid, 34u);  // backup
    EXPECT_EQ(st->st_gid, 34u);
  }
}

TEST_F(MountTest, StaleLockFileStaysVisibleAndRemovable) {
  const std::string stale = "vm/100/2023-12-31T00:00:00Z";
  make_stale_lock_file(locks_ + "/store1", lock_file(stale));
  EXPECT_TRUE(std::filesystem::is_regular_file(node(stale)));
  EXPECT_EQ(unlink(node(stale).c_str()), 0) << strerror(errno);
  EXPECT_FALSE(std::filesystem::exists(lock_file(stale)));
  EXPECT_FALSE(std::filesystem::exists(node(stale)));
}

TEST_F(MountTest, UnlinkWhenFreeRunsTheDestroyProtocol) {
  ASSERT_EQ(child_open_errno(node(kSnap1), O_RDONLY), 0);
  ASSERT_EQ(child_open_errno(node("vm/100/.2024-01-01T00:00:00Z.manifest"), O_RDONLY), 0);
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  ASSERT_TRUE(std::filesystem::exists(lock_file(kSnap1, "", true)));
  ASSERT_EQ(unlink(node(kSnap1).c_str()), 0) << strerror(errno);
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1, "", true)));
  EXPECT_TRUE(std::filesystem::exists(node(kSnap1)));  // the snapshot itself is still there
}

TEST_F(MountTest, UnlinkUnderTheCallersOwnExclusiveHold) {
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(unlink(node(kSnap1).c_str()), 0) << strerror(errno);
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));
  // `exec 9>node; rm node`: rm is a child of the holder.
  int fd2 = open(node(kSnap2).c_str(), O_RDWR);
  ASSERT_GE(fd2, 0);
  pid_t rm = spawn_command({"rm", node(kSnap2)});
  EXPECT_EQ(wait_exit_code(rm), 0);
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap2)));
  close(fd);
  close(fd2);
}

TEST_F(MountTest, UnlinkWhileSomebodyElseHoldsIsEbusy) {
  NodeHolder holder(node(kSnap1), O_RDONLY);
  ASSERT_EQ(holder.error(), 0);
  EXPECT_NE(unlink(node(kSnap1).c_str()), 0);
  EXPECT_EQ(errno, EBUSY);
  holder.release();
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  FlockHolder direct(lock_file(kSnap1), LOCK_SH);
  EXPECT_NE(unlink(node(kSnap1).c_str()), 0);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_TRUE(std::filesystem::exists(lock_file(kSnap1)));
}

// PBS's prune: a holder destroys the lock file under its own hold and keeps its handle a moment
// longer (its close is still on its way). That hold is on a file nobody can lock any more: the
// next holder locks a new file and may destroy it in turn, as with PBS's own protocol; a client
// holding nothing is still refused while somebody holds the current file (the stress test found
// the refusal of the next destroy).
TEST_F(MountTest, AHoldOnADestroyedLockFileNeverBlocksTheNextDestroy) {
  const std::string path = node(kSnap1);
  auto hold_and_destroy = [path] {
    int fd = open(path.c_str(), O_RDWR | O_NONBLOCK);
    if (fd < 0) return errno;
    return unlink(path.c_str()) == 0 ? 0 : errno;  // and the handle stays open
  };
  HoldingChild first(hold_and_destroy);
  ASSERT_EQ(first.error(), 0) << error_text(first.error());
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));
  HoldingChild next(hold_and_destroy);  // a new lock file, destroyed in turn
  EXPECT_EQ(next.error(), 0) << error_text(next.error());
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));
  NodeHolder current(path, O_RDONLY);
  ASSERT_EQ(current.error(), 0);
  EXPECT_NE(unlink(path.c_str()), 0);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_TRUE(std::filesystem::exists(lock_file(kSnap1)));
}

// The destroyer of a lock file that keeps its handle and then waits for the node again waits for
// the new file's holder like anybody: its old hold locks nothing, so its wait is no deadlock
// (not EDEADLK after the 1 s grace).
TEST_F(MountTest, ADestroyersWaitForTheNewLockFileIsNoDeadlock) {
  const std::string path = node(kSnap1);
  const std::string go = dir_ / "go";
  const std::string destroyed = dir_ / "destroyed";
  const std::string granted = dir_ / "granted";
  pid_t destroyer = spawn_command({"sh", "-c",
                                   "exec 8<>'" + path + "' && rm '" + path + "' && touch '" +
                                       destroyed + "' && for i in $(seq 500); do [ -e '" + go +
                                       "' ] && break; sleep 0.02; done && exec 9<>'" + path +
                                       "' && touch '" + granted + "'"});
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(destroyed); }));
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));
  NodeHolder next(path, O_RDWR | O_NONBLOCK);  // a new lock file
  ASSERT_EQ(next.error(), 0);
  std::ofstream(go).put('\n');
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  EXPECT_FALSE(std::filesystem::exists(granted));
  next.release();
  EXPECT_EQ(wait_exit_code(destroyer), 0);
  EXPECT_TRUE(std::filesystem::exists(granted));
}

TEST_F(MountTest, RmdirOfAGroupRemovesOnlyItsLockFileAndOnlyWhenEmpty) {
  ASSERT_EQ(child_open_errno(node("vm/100/.lock"), O_RDONLY), 0);
  EXPECT_NE(rmdir(node("vm/100").c_str()), 0);
  EXPECT_EQ(errno, ENOTEMPTY);
  // A group known only from its stale lock file has no snapshots: rmdir cleans it up.
  make_stale_lock_file(locks_ + "/store1", lock_file("ct/999"));
  EXPECT_TRUE(std::filesystem::is_directory(node("ct/999")));
  EXPECT_EQ(rmdir(node("ct/999").c_str()), 0) << strerror(errno);
  EXPECT_FALSE(std::filesystem::exists(lock_file("ct/999")));
  EXPECT_TRUE(std::filesystem::is_directory(locks_ + "/store1"));
  EXPECT_NE(rmdir(node("vm").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
}

TEST_F(MountTest, OldLockingMarkerAlsoLocksTheDatastoreDirectory) {
  std::string snapshot_dir = datastore_ + "/" + kSnap1;
  write_file(marker_, "");
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(lock_free(snapshot_dir, LOCK_SH));
  close(fd);
  EXPECT_TRUE(eventually([&] { return lock_free(snapshot_dir); }));
  unlink(marker_.c_str());
  fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(lock_free(snapshot_dir));
  close(fd);
}

TEST_F(MountTest, UnprivilegedUserGetsEaccesAndTakesNoLock) {
  const uid_t nobody = 65534;
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY, nobody), EACCES);
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDWR | O_NONBLOCK, nobody), EACCES);
  EXPECT_EQ(child_open_errno(node("vm/100"), O_RDONLY | O_DIRECTORY, nobody), EACCES);
  EXPECT_FALSE(std::filesystem::exists(lock_file(kSnap1)));
  EXPECT_NE(daemon_->log().find("EACCES"), std::string::npos);
}

TEST_F(MountTest, TheDaemonServesAsBackupWithNoCapabilities) {
  pid_t daemon = daemon_->daemon_pid();
  ASSERT_GT(daemon, 0);
  std::ifstream in("/proc/" + std::to_string(daemon) + "/status");
  std::string line, uid, gid, groups, cap_eff, cap_prm;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) uid = line;
    if (line.rfind("Gid:", 0) == 0) gid = line;
    if (line.rfind("Groups:", 0) == 0) groups = line;
    if (line.rfind("CapEff:", 0) == 0) cap_eff = line;
    if (line.rfind("CapPrm:", 0) == 0) cap_prm = line;
  }
  EXPECT_EQ(uid, "Uid:\t34\t34\t34\t34");
  EXPECT_EQ(gid, "Gid:\t34\t34\t34\t34");
  EXPECT_EQ(groups, "Groups:\t ");  // none (the kernel prints a trailing space)
  EXPECT_EQ(cap_eff, "CapEff:\t0000000000000000");
  EXPECT_EQ(cap_prm, "CapPrm:\t0000000000000000");
}

// The root monitor only unmounts and signals the daemon: CAP_SYS_ADMIN (21) and CAP_KILL (5),
// nothing else, from the moment the daemon serves until it ends; and it still does its job.
TEST_F(MountTest, TheMonitorKeepsOnlyWhatUnmountingAndSignallingNeed) {
  pid_t monitor = daemon_->monitor_pid();
  std::string cap_eff, cap_prm, cap_inh;
  ASSERT_TRUE(eventually([&] {
    std::ifstream in("/proc/" + std::to_string(monitor) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("CapEff:", 0) == 0) cap_eff = line;
      if (line.rfind("CapPrm:", 0) == 0) cap_prm = line;
      if (line.rfind("CapInh:", 0) == 0) cap_inh = line;
    }
    return cap_eff == "CapEff:\t0000000000200020";
  })) << cap_eff;
  EXPECT_EQ(cap_prm, "CapPrm:\t0000000000200020");
  EXPECT_EQ(cap_inh, "CapInh:\t0000000000000000");
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();  // signals the daemon, unmounts
  EXPECT_FALSE(is_fuse_mount(mnt_));
  daemon_.reset();
}

// The lock group may be any of a caller's supplementary groups, also past the 256th (they were
// once cut off there, and such a member was refused). The kernel lists groups sorted, so the
// lock group here is nogroup (65534), after 300 others.
TEST_F(MountTest, TheLockGroupCountsAfterTheFirst256SupplementaryGroups) {
  const std::string other = dir_ / "nogroup-mnt";
  auto daemon = mount_another("nogroup-mnt", {"lock_group=nogroup"});
  ASSERT_TRUE(daemon->mounted()) << daemon->log();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<gid_t> groups;
    for (gid_t g = 20000; g < 20300; ++g)
      groups.push_back(g);
    groups.push_back(65534);
    if (setgroups(groups.size(), groups.data()) != 0 || setgid(30000) != 0 || setuid(65534) != 0)
      _exit(2);
    int fd = open((other + "/store1/" + kSnap1).c_str(), O_RDONLY);
    _exit(fd >= 0 ? 0 : 1);
  }
  EXPECT_EQ(wait_exit_code(pid), 0) << daemon->log();
  EXPECT_EQ(daemon->stop(), 0);
}

TEST_F(MountTest, TheBackupGroupMayLock) {
  pid_t pid = fork();
  if (pid == 0) {
    // uid nobody, but in group backup: allowed.
    gid_t groups[] = {34};
    if (setgroups(1, groups) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int fd = open(node(kSnap1).c_str(), O_RDONLY);
    _exit(fd >= 0 ? 0 : 1);
  }
  EXPECT_EQ(wait_exit_code(pid), 0);
}

TEST_F(MountTest, OperationsThatWouldChangeTheTreeFailWithClearErrors) {
  EXPECT_NE(mkdir(node("vm/100/new").c_str(), 0755), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_LT(open(node("vm/100/newfile").c_str(), O_CREAT | O_WRONLY, 0644), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(rename(node(kSnap1).c_str(), node("vm/100/2030-01-01T00:00:00Z").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(symlink("x", node("vm/100/link").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(link(node(kSnap1).c_str(), node("vm/100/hard").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(chmod(node(kSnap1).c_str(), 0777), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(setxattr(node(kSnap1).c_str(), "user.x", "1", 1, 0), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(truncate(node("vm/100").c_str(), 0), 0);
  EXPECT_EQ(errno, EISDIR);
}

TEST_F(MountTest, ReadShowsTheStateAndWriteStoresTheReason) {
  int fd = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const std::string reason = "keeping this snapshot for the auditors\n";
  ASSERT_EQ(write(fd, reason.data(), reason.size()), static_cast<ssize_t>(reason.size()));
  std::string big(5000, 'x');
  EXPECT_LT(write(fd, big.data(), big.size()), 0);
  EXPECT_EQ(errno, EFBIG);
  char buffer[4096] = {};
  ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
  ASSERT_GT(n, 0);
  std::string text(buffer, n);
  EXPECT_NE(text.find("state: exclusive"), std::string::npos) << text;
  EXPECT_NE(text.find("keeping this snapshot for the auditors"), std::string::npos) << text;
  EXPECT_NE(text.find(lock_file(kSnap1)), std::string::npos) << text;
  close(fd);
}

TEST(ConfigReload, NewDatastoresAppearWithoutARemount) {
  TempDir dir;
  make_directories(dir / "a/vm/1/2024-01-01T00:00:00Z");
  make_directories(dir / "b/ct/2/2024-01-01T00:00:00Z");
  make_directories(dir / "mnt");
  write_file(dir / "datastore.cfg", "datastore: alpha\n\tpath " + (dir / "a") + "\n");
  MountedDaemon daemon(dir / "mnt",
                       {"config=" + (dir / "datastore.cfg"), "lock_root=" + (dir / "locks")},
                       dir / "daemon.log");
  ASSERT_TRUE(daemon.mounted()) << daemon.log();
  EXPECT_EQ(list(dir / "mnt"),
            (Names{".pbs-lockfs", ".pbs-lockfs-events", ".pbs-lockfs-metrics", "alpha"}));
  write_file(dir / "datastore.cfg", "datastore: alpha\n\tpath " + (dir / "a") +
                                        "\n\ndatastore: beta\n\tpath " + (dir / "b") + "\n");
  EXPECT_TRUE(eventually([&] {
    return list(dir / "mnt") ==
           Names{".pbs-lockfs", ".pbs-lockfs-events", ".pbs-lockfs-metrics", "alpha", "beta"};
  }));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "mnt/beta/ct/2/2024-01-01T00:00:00Z"));
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(ConfigReload, SigusrOneRereadsAnEditThatStatCannotSee) {
  // `systemctl reload` sends SIGUSR1 to the monitor. An edit that keeps the inode, the size and
  // the mtime is invisible to the automatic re-read; the signal re-reads anyway.
  TempDir dir;
  make_directories(dir / "a/vm/1/2024-01-01T00:00:00Z");
  make_directories(dir / "mnt");
  std::string config = dir / "datastore.cfg";
  write_file(config, "datastore: alpha\n\tpath " + (dir / "a") + "\n");
  struct stat before {};
  ASSERT_EQ(stat(config.c_str(), &before), 0);
  MountedDaemon daemon(dir / "mnt", {"config=" + config, "lock_root=" + (dir / "locks")},
                       dir / "daemon.log");
  ASSERT_TRUE(daemon.mounted()) << daemon.log();
  EXPECT_EQ(list(dir / "mnt"),
            (Names{".pbs-lockfs", ".pbs-lockfs-events", ".pbs-lockfs-metrics", "alpha"}));
  int fd = open(config.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "omega", 5, std::strlen("datastore: ")), 5);
  close(fd);
  timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, config.c_str(), times, 0), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(list(dir / "mnt"), (Names{".pbs-lockfs", ".pbs-lockfs-events", ".pbs-lockfs-metrics",
                                      "alpha"}));  // not seen without a reload
  ASSERT_EQ(kill(daemon.monitor_pid(), SIGUSR1), 0);
  EXPECT_TRUE(eventually([&] {
    return list(dir / "mnt") ==
           Names{".pbs-lockfs", ".pbs-lockfs-events", ".pbs-lockfs-metrics", "omega"};
  }));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "mnt/omega/vm/1"));
  EXPECT_NE(daemon.log().find("reload: re-reading"), std::string::npos) << daemon.log();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();  // the daemon survived the signal
}

TEST(Memory, TheNodesTheDaemonRemembersStayBoundedWhateverIsWalked) {
  // 3,000 snapshots are 6,000 nodes (each has a manifest node); the kernel would keep them all.
  TempDir dir;
  for (int g = 0; g < 3; ++g) {
    for (int i = 0; i < 1000; ++i) {
      char time[32];
      std::snprintf(time, sizeof time, "2024-01-%02dT%02d:%02d:00Z", 1 + i / 1440, i / 60 % 24,
                    i % 60);
      make_directories(dir / ("store/vm/" + std::to_string(g) + "/" + time));
    }
  }
  make_directories(dir / "mnt");
  MountedDaemon daemon(
      dir / "mnt",
      {"store=store1:" + (dir / "store"), "lock_root=" + (dir / "locks"), "max_inodes=1000"},
      dir / "daemon.log");
  ASSERT_TRUE(daemon.mounted()) << daemon.log();
  std::size_t walked = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir / "mnt");
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    struct stat st {};
    lstat(it->path().c_str(), &st);
    ++walked;
  }
  EXPECT_GT(walked, 6000u);
  auto remembered = [&] {
    std::ifstream in(dir / "mnt/.pbs-lockfs");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("inodes: ", 0) == 0) return std::stoul(line.substr(8));
    }
    return 0ul;
  };
  EXPECT_TRUE(eventually([&] { return remembered() <= 1000; }, std::chrono::seconds(5)))
      << remembered() << " nodes remembered";
  // Dropped entries come back on the next lookup, locks and all.
  int fd = open((dir / "mnt/store1/vm/0/2024-01-01T00:00:00Z").c_str(), O_RDWR);
  EXPECT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(Lifecycle, AStopRightAfterMountingIsCleanEveryTime) {
  TempDir dir;
  make_directories(dir / "store/vm/1/2024-01-01T00:00:00Z");
  make_directories(dir / "mnt");
  for (int i = 0; i < 10; ++i) {
    MountedDaemon daemon(dir / "mnt",
                         {"store=store1:" + (dir / "store"), "lock_root=" + (dir / "locks")},
                         dir / "daemon.log");
    ASSERT_TRUE(daemon.mounted()) << daemon.log();
    EXPECT_EQ(daemon.stop(), 0) << "round " << i << "\n" << daemon.log();
    EXPECT_FALSE(daemon.left_mounted()) << "round " << i;
  }
}

TEST(Lifecycle, TellsSystemdWhenReadyAndWhenStopping) {
  TempDir dir;
  make_directories(dir / "store/vm/1/2024-01-01T00:00:00Z");
  make_directories(dir / "mnt");
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string path = dir / "notify";
  std::strcpy(address.sun_path, path.c_str());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  auto receive = [&] {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return std::string("<nothing>");
    char buffer[512];
    ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    return std::string(buffer, n > 0 ? n : 0);
  };
  MountedDaemon daemon(dir / "mnt",
                       {"store=store1:" + (dir / "store"), "lock_root=" + (dir / "locks")},
                       dir / "daemon.log", std::chrono::seconds(60), {"NOTIFY_SOCKET=" + path});
  ASSERT_TRUE(daemon.mounted()) << daemon.log();
  std::string ready = receive();
  EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready;
  EXPECT_TRUE(std::filesystem::is_directory(dir / "mnt/store1"));  // and it answers
  EXPECT_EQ(daemon.stop(), 0);
  EXPECT_EQ(receive().rfind("STOPPING=1", 0), 0u);
  close(sock);
}

TEST(Lifecycle, UnderSystemdLogLinesCarrySyslogPrioritiesAndNoTimestamps) {
  TempDir dir;
  make_directories(dir / "store/vm/1/2024-01-01T00:00:00Z");
  make_directories(dir / "mnt");
  MountedDaemon daemon(dir / "mnt",
                       {"store=store1:" + (dir / "store"), "lock_root=" + (dir / "locks")},
                       dir / "daemon.log", std::chrono::seconds(60), {"JOURNAL_STREAM=8:1234"});
  ASSERT_TRUE(daemon.mounted()) << daemon.log();
  EXPECT_EQ(child_open_errno(dir / "mnt/store1/vm/1/2024-01-01T00:00:00Z", O_RDONLY), 0);
  EXPECT_EQ(child_open_errno(dir / "mnt/store1/vm/1/2024-01-01T00:00:00Z", O_RDONLY, 65534),
            EACCES);
  EXPECT_EQ(daemon.stop(), 0);
  std::string log = daemon.log();
  EXPECT_EQ(log.rfind("<6>created ", 0), 0u) << log;  // info, no timestamp before it
  EXPECT_NE(log.find("\n<6>mounted "), std::string::npos) << log;
  EXPECT_NE(log.find("\n<7>locked store1:vm/1/"), std::string::npos) << log;  // -d: debug
  EXPECT_NE(log.find("\n<4>refused "), std::string::npos) << log;             // warnings
}

TEST(Lifecycle, MountsLikeAnFstabLineThroughMountFuse3) {
  // fstab: `pbs-lockfs /run/pbs-locks fuse.pbs-lockfs allow_other,nofail 0 0` makes mount(8) run
  // mount.fuse3, which runs `pbs-lockfs SOURCE MOUNTPOINT -o OPTS` from the system PATH. The
  // `PROGRAM#SOURCE` form runs this build's daemon the same way without installing it.
  TempDir dir;
  make_directories(dir / "store/vm/1/2024-01-01T00:00:00Z");
  make_directories(dir / "mnt");
  pid_t mount = spawn_command(
      {"mount", "-t", "fuse", std::string(PBS_LOCKFS_DAEMON) + "#pbs-lockfs", dir / "mnt", "-o",
       "allow_other,nofail,store=store1:" + (dir / "store") + ",lock_root=" + (dir / "locks")});
  ASSERT_EQ(wait_exit_code(mount), 0);  // returns once mounted: the daemon went to the background
  ASSERT_TRUE(eventually([&] { return is_fuse_mount(dir / "mnt"); }));
  int fd = open((dir / "mnt/store1/vm/1/2024-01-01T00:00:00Z").c_str(), O_RDWR);
  EXPECT_GE(fd, 0);
  auto lock = LockObject::parse("store1", {}, "vm/1/2024-01-01T00:00:00Z", false);
  EXPECT_FALSE(
      other_process_can_flock((dir / "locks") + "/" + lock->lock_path().relative(), LOCK_SH));
  close(fd);
  pid_t umount = spawn_command({"umount", dir / "mnt"});
  EXPECT_EQ(wait_exit_code(umount), 0);
  EXPECT_TRUE(eventually([&] { return !is_fuse_mount(dir / "mnt"); }));
}

TEST(CommandLine, BadOptionsExitWithCode2BeforeMounting) {
  for (std::string options :
       {"bogus=1", "wait_timeout=-1", "wait_timeout=abc", "store=x:/a", "store=store1:relative",
        "lock_root=relative", "default_permissions", "max_threads=1", "attr_timeout=-1",
        "attr_timeout=61", "stop_grace=0", "stop_grace=x", "max_inodes=10",
        "store=store1:/srv/a,store=store1:/srv/b", "user=nosuchuser"}) {
    pid_t pid = spawn_command({PBS_LOCKFS_DAEMON, "-f", "-o", options, "/tmp"});
    EXPECT_EQ(wait_exit_code(pid), 2) << options;
  }
  pid_t help = spawn_command({PBS_LOCKFS_DAEMON, "--help"});
  EXPECT_EQ(wait_exit_code(help), 0);
}

}  // namespace
}  // namespace pbs::test
