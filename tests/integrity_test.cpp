// Integrity: a lock through the mount excludes exactly like PBS's own lock, or the call fails
// loudly. Each test is a way found to end up with two exclusive holders or a lock that locks
// nothing (pid reuse, POSIX locks, a replaced lock root, self-deadlock, PBS's temporary files,
// stacked mounts, a monitor unmounting its successor), checked against the real lock files
// with flock(2) from other processes.
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

bool lock_free(const std::string& file, int op = LOCK_EX) {
  return other_process_can_flock(file, op);
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// A directory or lock file as PBS leaves them (backup:backup, 0755 / 0660).
void make_pbs_directory(const std::string& dir) {
  make_directories(dir);
  ASSERT_EQ(chown(dir.c_str(), 34, 34), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
}
void make_pbs_file(const std::string& file) {
  int fd = open(file.c_str(), O_CREAT | O_RDWR, 0660);
  ASSERT_GE(fd, 0) << file;
  ASSERT_EQ(fchown(fd, 34, 34), 0);
  close(fd);
}

// Runs `op` in a child with a 5 s alarm: a wait that never ends kills the child (SIGALRM) and
// child_errno() reports -1 instead of hanging the test.
int child_errno_within_5s(const std::function<int()>& op) {
  return child_errno([&] {
    alarm(5);
    return op();
  });
}

class IntegrityTest : public MountTest {
 protected:
  // After the lock tree (`what`: the lock root, or a store's directory) was replaced under the
  // daemon: a lock through the mount is refused while PBS holds the file where it looks now,
  // and then taken there.
  void expect_locking_where_pbs_looks(const std::string& what) {
    make_pbs_file(lock_file(kSnap1));
    {
      FlockHolder pbs(lock_file(kSnap1), LOCK_EX);
      EXPECT_EQ(child_open_errno(node(kSnap1), O_WRONLY | O_NONBLOCK), EWOULDBLOCK)
          << "granted in a " << what << " PBS no longer uses";
    }
    int fd = open(node(kSnap1).c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << strerror(errno);
    EXPECT_FALSE(lock_free(lock_file(kSnap1)));
    close(fd);
  }
};

TEST_F(IntegrityTest, RmByAProcessThatGotTheDeadOpenersPidBackIsRefused) {
  // The opener takes the lock and exits; its child keeps the descriptor (and so the lock).
  const std::string snap1 = node(kSnap1);
  OrphanedHold hold([&] { return open(snap1.c_str(), O_WRONLY) >= 0; });
  ASSERT_GT(hold.taker, 0);
  const pid_t opener = hold.taker;
  ASSERT_FALSE(lock_free(lock_file(kSnap1)));

  // A new process gets the opener's pid (forced through ns_last_pid) and runs rm.
  int outcome = -1;
  for (int attempt = 0; attempt < 50 && outcome == -1; ++attempt) {
    std::ofstream("/proc/sys/kernel/ns_last_pid") << opener - 1;
    int channel[2];
    ASSERT_EQ(pipe(channel), 0);
    pid_t reused = fork();
    if (reused == 0) {
      int error = -1;  // -1: did not get the pid, try again
      if (getpid() == opener) error = unlink(node(kSnap1).c_str()) == 0 ? 0 : errno;
      [[maybe_unused]] auto n = write(channel[1], &error, sizeof error);
      _exit(0);
    }
    close(channel[1]);
    [[maybe_unused]] auto n = read(channel[0], &outcome, sizeof outcome);
    close(channel[0]);
    wait_exit_code(reused);
  }
  ASSERT_NE(outcome, -1) << "could not get pid " << opener << " back";
  EXPECT_EQ(outcome, EBUSY);
  EXPECT_TRUE(exists(lock_file(kSnap1))) << "the lock file was removed under another's hold";
  EXPECT_EQ(child_open_errno(node(kSnap1), O_WRONLY | O_NONBLOCK), EWOULDBLOCK)
      << "a second exclusive holder";
  EXPECT_NE(daemon_->log().find("which has exited"), std::string::npos) << daemon_->log();
  kill(hold.keeper, SIGKILL);
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
}

TEST_F(IntegrityTest, RmUnderTheCallersOwnExclusiveHoldStillWorks) {
  EXPECT_EQ(child_errno([&] {
              int fd = open(node(kSnap1).c_str(), O_WRONLY);
              if (fd < 0) return 1000 + errno;
              // rm as a child of the holder, as `exec 9>node; rm node` does in a shell.
              pid_t rm = fork();
              if (rm == 0) _exit(unlink(node(kSnap1).c_str()) == 0 ? 0 : errno);
              return wait_exit_code(rm);
            }),
            0);
  EXPECT_FALSE(exists(lock_file(kSnap1)));
}

// The stress test's last events for a lock, once reported as "still held": a shared hold
// converted to exclusive with flock(2), the lock files removed under that hold, the handle
// released. Nothing is held afterwards, the daemon keeps no handle, and the next open locks a
// new lock file where PBS looks.
TEST_F(IntegrityTest, ConvertRemoveUnderOwnHoldAndReleaseLeavesNothingBehind) {
  EXPECT_EQ(child_errno([&] {
              int fd = open(node(kSnap1).c_str(), O_RDONLY);
              if (fd < 0) return 1000 + errno;
              if (flock(fd, LOCK_EX) != 0) return 2000 + errno;
              if (unlink(node(kSnap1).c_str()) != 0) return 3000 + errno;
              return 0;  // exits: the handle is released
            }),
            0);
  EXPECT_FALSE(exists(lock_file(kSnap1)));
  EXPECT_TRUE(eventually([&] {
    std::ifstream in(mnt_ + "/.pbs-lockfs");
    std::string status((std::istreambuf_iterator<char>(in)), {});
    return status.find("open handles: 0\n") != std::string::npos;
  }));
  NodeHolder next(node(kSnap1), O_WRONLY | O_NONBLOCK);
  EXPECT_EQ(next.error(), 0);
  EXPECT_FALSE(lock_free(lock_file(kSnap1)));
}

TEST_F(IntegrityTest, PosixLocksOnANodeAreRefusedWithEnolck) {
  EXPECT_EQ(child_errno([&] {
              int fd = open(node(kSnap1).c_str(), O_RDWR);
              if (fd < 0) return 1000 + errno;
              struct flock whole {};
              whole.l_type = F_WRLCK;
              whole.l_whence = SEEK_SET;
              if (fcntl(fd, F_SETLK, &whole) == 0 || errno != ENOLCK) return 1;
              if (fcntl(fd, F_SETLKW, &whole) == 0 || errno != ENOLCK) return 2;
              if (lockf(fd, F_TLOCK, 0) == 0 || errno != ENOLCK) return 3;
              if (fcntl(fd, F_OFD_SETLK, &whole) == 0 || errno != ENOLCK) return 4;
              if (fcntl(fd, F_GETLK, &whole) == 0 || errno != ENOLCK) return 5;
              struct flock range {};
              range.l_type = F_RDLCK;
              range.l_start = 10;
              range.l_len = 5;
              if (fcntl(fd, F_SETLK, &range) == 0 || errno != ENOLCK) return 6;
              whole.l_type = F_UNLCK;  // letting go of nothing is fine
              if (fcntl(fd, F_SETLK, &whole) != 0) return 7;
              return 0;
            }),
            0);
  EXPECT_NE(daemon_->log().find("POSIX lock"), std::string::npos) << daemon_->log();
}

TEST_F(IntegrityTest, WaitingForOnesOwnHoldFailsWithEdeadlk) {
  // The same process opens the node it holds exclusively.
  EXPECT_EQ(child_errno_within_5s([&] {
              int fd = open(node(kSnap1).c_str(), O_WRONLY);
              if (fd < 0) return 1000 + errno;
              return open(node(kSnap1).c_str(), O_RDONLY) < 0 ? errno : 0;
            }),
            EDEADLK);
  // `exec 9>node; cat node`: a child of the holder.
  EXPECT_EQ(child_errno_within_5s([&] {
              int fd = open(node(kSnap1).c_str(), O_WRONLY);
              if (fd < 0) return 1000 + errno;
              pid_t cat = fork();
              if (cat == 0) _exit(open(node(kSnap1).c_str(), O_RDONLY) < 0 ? errno : 0);
              return wait_exit_code(cat);
            }),
            EDEADLK);
  // Perl's open "<"; flock LOCK_EX; with a second shared handle of its own.
  EXPECT_EQ(child_errno_within_5s([&] {
              int first = open(node(kSnap1).c_str(), O_RDONLY);
              int second = open(node(kSnap1).c_str(), O_RDONLY);
              if (first < 0 || second < 0) return 1000 + errno;
              return flock(first, LOCK_EX) == 0 ? 0 : errno;
            }),
            EDEADLK);
  // Somebody else's hold is still waited for.
  NodeHolder other(node(kSnap1), O_WRONLY);
  ASSERT_EQ(other.error(), 0);
  EXPECT_EQ(child_errno_within_5s([&] {
              alarm(1);
              signal(SIGALRM, [](int) {});
              return open(node(kSnap1).c_str(), O_RDONLY) < 0 ? errno : 0;
            }),
            EINTR);
}

TEST_F(IntegrityTest, TheStatusTextIsReadableWithoutTakingALock) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);  // creates the lock file
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  FlockHolder pbs(lock_file(kSnap1), LOCK_EX);
  char value[4096] = {};
  ssize_t n = getxattr(node(kSnap1).c_str(), "user.pbs.status", value, sizeof value - 1);
  ASSERT_GT(n, 0) << strerror(errno);
  std::string text(value, static_cast<std::size_t>(n));
  EXPECT_NE(text.find("state: exclusive\n"), std::string::npos) << text;
  EXPECT_NE(text.find("via=direct"), std::string::npos) << text;
  // Reading the node itself would have to lock it.
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
}

TEST_F(IntegrityTest, PbsTemporaryLockFilesAreNeverNodesNorRemoved) {
  make_pbs_directory(locks_ + "/store1");
  const std::string in_flight = locks_ + "/store1/vm-200.tmp_Ab12Cd";
  const std::string snapshot_tmp =
      locks_ + "/store1/vm-100-2024\\x2d01\\x2d05T00\\x3a00\\x3a00Z.tmp_x9Y8z7";
  make_pbs_file(in_flight);
  make_pbs_file(snapshot_tmp);
  std::set<std::string> groups;
  for (auto& e : std::filesystem::directory_iterator(node("vm")))
    groups.insert(e.path().filename());
  EXPECT_EQ(groups, (std::set<std::string>{"100"}));
  EXPECT_FALSE(exists(node("vm/200.tmp_Ab12Cd")));
  EXPECT_NE(unlink(node("vm/200.tmp_Ab12Cd/.lock").c_str()), 0);
  EXPECT_NE(rmdir(node("vm/200.tmp_Ab12Cd").c_str()), 0);
  EXPECT_TRUE(exists(in_flight));
  EXPECT_TRUE(exists(snapshot_tmp));
}

// PBS 4.2 keeps more in the lock root than lock files: `<store>/move-journal` (datastore.rs,
// flocked while groups and namespaces move) and, for S3 datastores, one never-removed lock file
// per chunk under `<store>/.chunks/<4 hex>/<digest>`. Neither is ever a node, and the chunk
// locks are never read (listings do not descend into .chunks).
TEST_F(IntegrityTest, Pbs42MoveJournalAndChunkLocksAreNeverNodes) {
  make_pbs_directory(locks_ + "/store1");
  make_pbs_file(locks_ + "/store1/move-journal");
  make_pbs_directory(locks_ + "/store1/.chunks");
  make_pbs_directory(locks_ + "/store1/.chunks/abcd");
  for (int i = 0; i < 50; ++i) {
    char digest[65];
    std::snprintf(digest, sizeof digest, "abcd%060d", i);
    make_pbs_file(locks_ + "/store1/.chunks/abcd/" + digest);
  }
  std::set<std::string> top;
  for (auto& e : std::filesystem::directory_iterator(node("")))
    top.insert(e.path().filename());
  EXPECT_EQ(top, (std::set<std::string>{"ct", "ns", "vm"}));
  EXPECT_FALSE(exists(node(".chunks")));
  EXPECT_FALSE(exists(node("move/journal")));
  FlockHolder journal(locks_ + "/store1/move-journal", LOCK_EX);  // a move in progress
  int fd = open(node(kSnap1).c_str(), O_WRONLY | O_NONBLOCK);
  EXPECT_GE(fd, 0) << strerror(errno);
  if (fd >= 0) close(fd);
}

// The hardened unit leaves root without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER.
// PBS's /run/proxmox-backup belongs to backup: the lock root is still created inside it, as
// backup would (0755, backup:backup), and the mount serves.
TEST_F(IntegrityTest, TheLockRootIsCreatedInsideBackupsDirectoryWithoutDacCapabilities) {
  // Both steps: /run/proxmox-backup missing (root creates it in its own directory, under the
  // unit's umask 0077, and hands it to backup), then the lock root inside it (as backup).
  const std::string root = (dir_ / "run-proxmox-backup") + "/locks";
  const std::string other = dir_ / "other-mnt";
  make_directories(other);
  MountedDaemon hardened(
      other, {"store=store1:" + datastore_, "lock_root=" + root, "old_locking_marker=" + marker_},
      dir_ / "hardened.log", std::chrono::seconds(90), {}, [] {
        for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER})
          prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        umask(0077);  // the unit's
      });
  ASSERT_TRUE(hardened.mounted()) << hardened.log();
  struct stat st {};
  ASSERT_EQ(stat(root.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 34u);
  EXPECT_EQ(st.st_gid, 34u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  int fd = open((other + "/store1/" + kSnap1).c_str(), O_WRONLY | O_NONBLOCK);
  EXPECT_GE(fd, 0) << strerror(errno) << hardened.log();
  if (fd >= 0) close(fd);
  EXPECT_EQ(hardened.stop(), 0) << hardened.log();
}

// An exception escaping an operation must not take the daemon (and with it every lock held
// through the mount) down: a fault injected into getxattr (test builds only) gets that request
// EIO, and the mount and the lock held through it stay.
TEST_F(IntegrityTest, AFailureInAnOperationAnswersEioAndKeepsEveryLock) {
  const std::string other = dir_ / "faulty-mnt";
  auto daemon = mount_another("faulty-mnt", {}, {"PBS_LOCKFS_INJECT_FAULT=getxattr"});
  MountedDaemon& faulty = *daemon;
  ASSERT_TRUE(faulty.mounted()) << faulty.log();
  const std::string snap = other + "/store1/" + kSnap1;
  int fd = open(snap.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  char value[256];
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(getxattr(snap.c_str(), "user.pbs.state", value, sizeof value), -1);
    EXPECT_EQ(errno, EIO);
  }
  EXPECT_FALSE(lock_free(lock_file(kSnap1), LOCK_SH)) << "the lock went with the failure";
  EXPECT_TRUE(exists(snap));
  std::string text;
  {
    std::ifstream status(other + "/.pbs-lockfs");  // closed before the polite stop below
    text.assign(std::istreambuf_iterator<char>(status), {});
  }
  EXPECT_NE(text.find("unexpected failures: 3 (answered EIO, logged)"), std::string::npos) << text;
  EXPECT_NE(faulty.log().find("getxattr: unexpected failure (fault injected for the test): "
                              "answered EIO; the daemon goes on serving"),
            std::string::npos)
      << faulty.log();
  close(fd);
  EXPECT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  EXPECT_EQ(faulty.stop(), 0) << faulty.log();
}

// A misspelt log level once turned logging off entirely: refused like a bad option.
TEST_F(IntegrityTest, AnUnknownLogLevelIsRefusedBeforeAnythingIsMounted) {
  const std::string other = dir_ / "other-mnt";
  make_directories(other);
  std::string log = dir_ / "level.log";
  pid_t daemon = spawn_command({"/bin/sh", "-c",
                                "PBS_LOCKFS_LOG=verbose " + std::string(PBS_LOCKFS_DAEMON) +
                                    " -f -o store=store1:" + datastore_ + ",lock_root=" + locks_ +
                                    " " + other + " 2>" + log});
  EXPECT_EQ(wait_exit_code(daemon), 2);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text,
            "pbs-lockfs: PBS_LOCKFS_LOG=verbose: not a log level (trace, debug, info, warn, "
            "err, critical, off)\n");
  EXPECT_FALSE(is_fuse_mount(other));
}

TEST_F(IntegrityTest, AnUnknownUserIsRefusedBeforeAnythingIsMounted) {
  const std::string other = dir_ / "other-mnt";
  make_directories(other);
  std::string log = dir_ / "user.log";
  // In the background (no -f), as the fstab helper starts it: once it was exit 0, nothing mounted.
  pid_t daemon = spawn_command({"/bin/sh", "-c",
                                std::string(PBS_LOCKFS_DAEMON) +
                                    " -o user=nosuchuser,store=store1:" + datastore_ +
                                    ",lock_root=" + locks_ + " " + other + " 2>" + log});
  EXPECT_EQ(wait_exit_code(daemon), 2);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("no such user 'nosuchuser'"), std::string::npos) << text;
  EXPECT_FALSE(is_fuse_mount(other));
}

TEST_F(IntegrityTest, ASecondDaemonOnTheSameMountpointIsRefused) {
  std::string log = dir_ / "second.log";
  pid_t second =
      spawn_command({"/bin/sh", "-c",
                     std::string(PBS_LOCKFS_DAEMON) + " -f -o store=store1:" + datastore_ +
                         ",lock_root=" + locks_ + " " + mnt_ + " 2>" + log});
  EXPECT_EQ(wait_exit_code(second), 2);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("already there"), std::string::npos) << text;
  // Exactly one pbs-lockfs mount at the mountpoint.
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  int mounts = 0;
  while (std::getline(mountinfo, line)) {
    if (line.find(" " + mnt_ + " ") != std::string::npos) ++mounts;
  }
  EXPECT_EQ(mounts, 1);
}

TEST_F(IntegrityTest, AnOldMonitorNeverUnmountsItsSuccessor) {
  // The old daemon is paused, the admin unmounts and a new instance mounts at the same place
  // (often getting the same device number back); then the old daemon ends.
  pid_t old_daemon = daemon_->daemon_pid();
  ASSERT_GT(old_daemon, 0);
  // The monitor's readiness statfs (every 10 ms until the mount answers) must not be caught by
  // the pause: it would keep the mount busy.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(kill(old_daemon, SIGSTOP), 0);
  // umount(2) itself, as umount(8) would stat the paused mount and hang.
  int unmounted = -1;
  for (int i = 0; i < 100 && unmounted != 0; ++i) {
    unmounted = umount2(mnt_.c_str(), 0);
    if (unmounted != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(unmounted, 0) << strerror(errno);
  MountedDaemon successor(mnt_, {"store=store1:" + datastore_, "lock_root=" + locks_},
                          dir_ / "successor.log");
  ASSERT_TRUE(successor.mounted()) << successor.log();
  ASSERT_EQ(kill(old_daemon, SIGCONT), 0);
  EXPECT_TRUE(daemon_->wait_for_exit(std::chrono::seconds(10)).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(is_fuse_mount(mnt_)) << "the old monitor unmounted its successor\n" << daemon_->log();
  int fd = open(node(kSnap1).c_str(), O_WRONLY);
  EXPECT_GE(fd, 0) << strerror(errno);
  EXPECT_FALSE(lock_free(lock_file(kSnap1)));
  if (fd >= 0) close(fd);
  EXPECT_EQ(successor.stop(), 0);
}

TEST_F(IntegrityTest, ALockRootRenamedAwayIsReplacedByTheOnePbsUses) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);  // the lock tree exists and is in use
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  NodeHolder old_tree(node(kSnap2), O_RDONLY);  // held in the tree about to be renamed
  ASSERT_EQ(old_tree.error(), 0);
  ASSERT_EQ(rename(locks_.c_str(), (locks_ + ".old").c_str()), 0);
  make_pbs_directory(locks_);
  make_pbs_directory(locks_ + "/store1");
  expect_locking_where_pbs_looks("lock root");
  EXPECT_NE(daemon_->log().find("was replaced or removed"), std::string::npos) << daemon_->log();
  // The hold in the old tree stays, and its node says PBS does not see it.
  char text[4096] = {};
  ssize_t n = getxattr(node(kSnap2).c_str(), "user.pbs.status", text, sizeof text - 1);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(text).find("no longer at this path"), std::string::npos) << text;
  EXPECT_FALSE(lock_free(locks_ + ".old/" + lock_file(kSnap2).substr(locks_.size() + 1)));
}

// The daemon keeps its lock directories open between lock attempts (LockRoot's cache): one
// renamed away or removed must not keep a lock that PBS no longer sees.
TEST_F(IntegrityTest, ALockDirectoryRenamedOrRemovedIsReplacedByTheOnePbsUses) {
  const std::string store_dir = locks_ + "/store1";
  int fd = open(node(kSnap1).c_str(), O_RDONLY);  // the store's lock directory is now cached
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  ASSERT_EQ(rename(store_dir.c_str(), (store_dir + ".old").c_str()), 0);
  make_pbs_directory(store_dir);
  expect_locking_where_pbs_looks("lock directory");
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));

  std::filesystem::remove_all(store_dir);  // removed with everything in it
  fd = open(node(kSnap2).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << strerror(errno) << daemon_->log();
  EXPECT_FALSE(lock_free(lock_file(kSnap2))) << "the lock is not where PBS looks";
  close(fd);
}

TEST_F(IntegrityTest, ALockRootRemovedFailsLoudlyUntilItIsBack) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(eventually([&] { return lock_free(lock_file(kSnap1)); }));
  std::filesystem::remove_all(locks_);
  // The daemon (as backup) cannot recreate it in this root-owned scratch directory: it says so.
  EXPECT_NE(child_open_errno(node(kSnap1), O_WRONLY | O_NONBLOCK), 0);
  make_pbs_directory(locks_);  // recreated, as PBS does on its next lock
  fd = open(node(kSnap1).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << strerror(errno) << daemon_->log();
  EXPECT_FALSE(lock_free(lock_file(kSnap1)));
  close(fd);
}

TEST_F(IntegrityTest, OldLockingManifestNodeTakesPbsOldManifestLock) {
  write_file(marker_, "");
  const std::string manifest = node("vm/100/.2024-01-01T00:00:00Z.manifest");
  // PBS's old manifest lock path (backup_info.rs, lock_manifest with OLD_LOCKING).
  const std::string old_manifest =
      locks_ + "/store1/vm/100/2024-01-01T00:00:00Z/2024-01-01T00:00:00Z.index.json.lck";
  const std::string snapshot_dir = datastore_ + "/" + kSnap1;
  int fd = open(manifest.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_FALSE(lock_free(old_manifest, LOCK_SH)) << "PBS's manifest lock is not excluded";
  EXPECT_TRUE(lock_free(snapshot_dir, LOCK_SH)) << "PBS's readers are refused";
  struct stat st {};
  ASSERT_EQ(stat(old_manifest.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 34u);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  ASSERT_EQ(stat((locks_ + "/store1/vm/100/2024-01-01T00:00:00Z").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 34u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  close(fd);
  ASSERT_TRUE(eventually([&] { return lock_free(old_manifest); }));
  {
    FlockHolder pbs(old_manifest, LOCK_EX);
    EXPECT_EQ(child_open_errno(manifest, O_WRONLY | O_NONBLOCK), EWOULDBLOCK);
  }
  // The old-style directories are not namespaces.
  std::set<std::string> top;
  for (auto& e : std::filesystem::directory_iterator(node("")))
    top.insert(e.path().filename());
  EXPECT_EQ(top, (std::set<std::string>{"ct", "ns", "vm"}));
}

TEST_F(IntegrityTest, OldLockingDirectoryHoldersShowInTheNodesState) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);  // the lock file exists
  ASSERT_GE(fd, 0);
  close(fd);
  write_file(marker_, "");
  FlockHolder old_pbs(datastore_ + "/" + kSnap1, LOCK_EX);  // an old PBS process's lock
  char value[64] = {};
  ssize_t n = getxattr(node(kSnap1).c_str(), "user.pbs.state", value, sizeof value - 1);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(value, static_cast<std::size_t>(n)), "exclusive");
  struct stat st {};
  ASSERT_EQ(stat(node(kSnap1).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0220u);  // --w--w----
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY | O_NONBLOCK), EWOULDBLOCK);
}

TEST_F(IntegrityTest, OutOfDescriptorsIsEmfileNeverAMissingNode) {
  const pid_t daemon = daemon_->daemon_pid();
  ASSERT_GT(daemon, 0);
  auto open_descriptors = [&] {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(daemon) + "/fd"))
      ++n;
    return n;
  };
  // Only the daemon's own user may change its soft limit (this sandbox has no
  // CAP_SYS_RESOURCE): a child as backup does it, leaving the hard limit alone.
  auto set_soft_limit = [&](rlim_t soft) {
    return child_errno(
        [&] {
          rlimit now{};
          if (prlimit(daemon, RLIMIT_NOFILE, nullptr, &now) != 0) return errno;
          now.rlim_cur = soft == 0 ? now.rlim_max : soft;
          return prlimit(daemon, RLIMIT_NOFILE, &now, nullptr) == 0 ? 0 : errno;
        },
        34);
  };
  ASSERT_EQ(set_soft_limit(open_descriptors() - 2), 0);  // not one more descriptor
  struct stat st {};
  EXPECT_NE(lstat(node(kSnap2).c_str(), &st), 0);
  EXPECT_EQ(errno, EMFILE) << "a node vanished because the daemon ran out of descriptors";
  EXPECT_EQ(child_open_errno(node("vm/100/.lock"), O_RDONLY), EMFILE);
  ASSERT_EQ(set_soft_limit(0), 0);
  EXPECT_EQ(lstat(node(kSnap2).c_str(), &st), 0) << strerror(errno);
  EXPECT_NE(daemon_->log().find("out of descriptors or memory"), std::string::npos)
      << daemon_->log();
  std::ifstream status(mnt_ + "/.pbs-lockfs");
  std::string text((std::istreambuf_iterator<char>(status)), {});
  EXPECT_EQ(text.find("out of descriptors or memory: 0 "), std::string::npos) << text;
}

TEST_F(IntegrityTest, RemovingASnapshotWaitsForItsManifestLikePbsDestroys) {
  const std::string manifest = lock_file(kSnap1, "", true);
  int fd = open(node("vm/100/.2024-01-01T00:00:00Z.manifest").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);  // creates the manifest lock file
  close(fd);
  ASSERT_TRUE(eventually([&] { return lock_free(manifest); }));
  auto pbs = std::make_unique<FlockHolder>(manifest, LOCK_EX);  // PBS updating the notes
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    pbs.reset();
  });
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(unlink(node(kSnap1).c_str()), 0) << strerror(errno);
  auto waited = std::chrono::steady_clock::now() - started;
  release.join();
  EXPECT_GE(waited, std::chrono::milliseconds(600));
  EXPECT_FALSE(exists(manifest));
  EXPECT_FALSE(exists(lock_file(kSnap1)));
}

// What an admin expects of a daemon: SIGHUP reloads (it used to be a polite stop), and `df -i`
// does not report the mount 100% full of inodes.
TEST_F(IntegrityTest, SighupReloadsAndKeepsTheMountAndItsLocks) {
  NodeHolder holder(node(kSnap1), O_WRONLY);
  ASSERT_EQ(holder.error(), 0);
  ASSERT_EQ(kill(daemon_->monitor_pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] {
    return daemon_->log().find("reload (signal") != std::string::npos;
  })) << daemon_->log();
  EXPECT_TRUE(is_fuse_mount(mnt_));
  EXPECT_FALSE(lock_free(lock_file(kSnap1)));
  struct statvfs st {};
  ASSERT_EQ(statvfs(mnt_.c_str(), &st), 0);
  EXPECT_GT(st.f_files, 0u);
  EXPECT_GT(st.f_ffree, 0u);
}

}  // namespace
}  // namespace pbs::test
