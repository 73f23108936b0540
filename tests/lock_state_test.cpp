// What `ls -l` (stat) and the extended attributes of a node show: live lock state from mount
// holders and from direct holders found in /proc/locks.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"
#include "text_escape.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;

class LockStateTest : public MountTest {
 protected:
  std::vector<std::string> extra_options() const override {
    return {"tasks_file=" + (dir_ / "tasks-active")};
  }
  struct stat attributes(const std::string& object) {
    struct stat st {};
    EXPECT_EQ(stat(node(object).c_str(), &st), 0);
    return st;
  }
  // What `ls -l` of the node's directory shows for it: readdir (READDIRPLUS, which brings fresh
  // attributes), then stat of the entry, as ls does.
  struct stat listed(const std::string& object) {
    std::filesystem::path path = node(object);
    struct stat st {};
    DIR* dir = opendir(path.parent_path().c_str());
    EXPECT_NE(dir, nullptr);
    if (dir == nullptr) return st;
    while (readdir(dir) != nullptr) {
    }
    EXPECT_EQ(fstatat(dirfd(dir), path.filename().c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
    closedir(dir);
    return st;
  }
  bool shows(const std::string& object, mode_t mode, off_t holders) {
    struct stat st = listed(object);
    return (st.st_mode & 07777) == mode && st.st_size == holders;
  }
  bool stat_shows(const std::string& object, mode_t mode, off_t holders) {
    struct stat st = attributes(object);
    return (st.st_mode & 07777) == mode && st.st_size == holders;
  }
  std::string xattr(const std::string& object, const std::string& name) {
    char buffer[8192];
    ssize_t n = getxattr(node(object).c_str(), name.c_str(), buffer, sizeof buffer);
    return n < 0 ? "<" + std::string(strerror(errno)) + ">" : std::string(buffer, n);
  }
  void create_lock_file(const std::string& object) {
    ASSERT_EQ(child_open_errno(node(object), O_RDONLY), 0);
    ASSERT_TRUE(eventually([&] { return other_process_can_flock(lock_file(object), LOCK_EX); }));
  }
};

TEST_F(LockStateTest, ModeSizeAndOwnerFollowMountHolders) {
  EXPECT_TRUE(shows(kSnap1, 0660, 0));
  int reader = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  EXPECT_TRUE(stat_shows(kSnap1, 0440, 1));  // at once: our own changes invalidate the cache
  int second = open(node(kSnap1).c_str(), O_RDONLY);
  EXPECT_TRUE(shows(kSnap1, 0440, 2));
  close(reader);
  close(second);
  ASSERT_TRUE(eventually([&] { return shows(kSnap1, 0660, 0); }));
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(34) != 0 || setuid(34) != 0) _exit(2);  // the backup user holds it
    int fd = open(node(kSnap1).c_str(), O_RDWR);
    pause();
    _exit(fd >= 0 ? 0 : 1);
  }
  ASSERT_TRUE(eventually([&] { return shows(kSnap1, 0220, 1); }));
  EXPECT_EQ(attributes(kSnap1).st_uid, 34u);
  EXPECT_NE(xattr(kSnap1, "user.pbs.holders").find("pid=" + std::to_string(pid) + " "),
            std::string::npos)
      << "the real requester, not the daemon";
  kill(pid, SIGKILL);
  wait_exit_code(pid);
}

TEST_F(LockStateTest, APlainStatCatchesUpWithADirectHolderWithinTheAttributeTimeout) {
  create_lock_file(kSnap1);
  EXPECT_TRUE(stat_shows(kSnap1, 0660, 0));  // now cached by the kernel for up to 1 s
  FlockHolder pbs(lock_file(kSnap1), LOCK_EX);
  std::this_thread::sleep_for(10ms);    // /proc/locks is read at most once per 5 ms
  EXPECT_TRUE(shows(kSnap1, 0220, 1));  // then a listing is fresh
  EXPECT_TRUE(eventually([&] { return stat_shows(kSnap1, 0220, 1); }, 1500ms));
}

TEST_F(LockStateTest, DirectHoldersFromProcLocksShowToo) {
  create_lock_file(kSnap1);
  {
    FlockHolder pbs(lock_file(kSnap1), LOCK_EX);
    EXPECT_TRUE(eventually([&] { return shows(kSnap1, 0220, 1); }, 500ms));
    EXPECT_EQ(xattr(kSnap1, "user.pbs.state"), "exclusive");
    std::string holders = xattr(kSnap1, "user.pbs.holders");
    EXPECT_NE(holders.find("pid=" + std::to_string(pbs.pid()) + " "), std::string::npos) << holders;
    EXPECT_NE(holders.find("via=direct"), std::string::npos) << holders;
    EXPECT_NE(holders.find("uid=0"), std::string::npos) << holders;
  }
  FlockHolder a(lock_file(kSnap1), LOCK_SH), b(lock_file(kSnap1), LOCK_SH);
  EXPECT_TRUE(eventually([&] { return shows(kSnap1, 0440, 2); }, 500ms));
  int mine = open(node(kSnap1).c_str(), O_RDONLY);
  EXPECT_TRUE(shows(kSnap1, 0440, 3));
  close(mine);
}

TEST_F(LockStateTest, AHolderWhoseChildKeepsTheLockAfterItExitedStillShows) {
  create_lock_file(kSnap1);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t parent = fork();
  if (parent == 0) {
    int fd = open(lock_file(kSnap1).c_str(), O_RDONLY);
    flock(fd, LOCK_EX);
    if (fork() == 0) {  // the child inherits the descriptor, and with it the lock
      // It runs as backup, as PBS's proxy does: the daemon may read a backup process's fdinfo.
      if (setgid(34) != 0 || setuid(34) != 0) _exit(2);
      prctl(PR_SET_DUMPABLE, 1);
      pid_t me = getpid();
      [[maybe_unused]] auto w = write(ready[1], &me, sizeof me);
      pause();
      _exit(0);
    }
    _exit(0);
  }
  wait_exit_code(parent);
  pid_t child = 0;
  ASSERT_EQ(read(ready[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  EXPECT_TRUE(eventually([&] { return shows(kSnap1, 0220, 1); }, 500ms));
  EXPECT_EQ(xattr(kSnap1, "user.pbs.state"), "exclusive");
  // /proc/locks names the exited parent; the holder shown is the child that keeps the lock.
  std::string holders = xattr(kSnap1, "user.pbs.holders");
  EXPECT_EQ(holders.find("pid=" + std::to_string(parent) + " "), std::string::npos) << holders;
  EXPECT_EQ(holders.find("command=\"?\""), std::string::npos) << holders;
  EXPECT_NE(holders.find("command=\"lock-state-test\""), std::string::npos) << holders;
  EXPECT_NE(holders.find("pid=" + std::to_string(child) + " uid=34 "), std::string::npos)
      << holders;
  // The orphan is still running: find and end it through the lock file's holder.
  kill(child, SIGKILL);
  EXPECT_TRUE(eventually([&] { return shows(kSnap1, 0660, 0); }));
  close(ready[0]);
  close(ready[1]);
}

TEST_F(LockStateTest, ExtendedAttributesTellTheRest) {
  char names[1024];
  ssize_t n = listxattr(node(kSnap1).c_str(), names, sizeof names);
  ASSERT_GT(n, 0);
  std::string list(names, n);
  for (auto name : {"user.pbs.state", "user.pbs.holders", "user.pbs.waiters", "user.pbs.lock_file",
                    "user.pbs.stale", "user.pbs.status"}) {
    EXPECT_NE(list.find(name), std::string::npos) << name;
  }
  // No holder with a reason or a PBS task: those are not listed (they would show as "").
  EXPECT_EQ(list.find("user.pbs.reason"), std::string::npos);
  EXPECT_EQ(list.find("user.pbs.task"), std::string::npos);
  EXPECT_EQ(xattr(kSnap1, "user.pbs.state"), "free");
  EXPECT_EQ(xattr(kSnap1, "user.pbs.lock_file"), lock_file(kSnap1));
  EXPECT_EQ(xattr(kSnap1, "user.pbs.stale"), "no");
  EXPECT_EQ(xattr(kSnap1, "user.pbs.nonsense"), "<" + std::string(strerror(ENODATA)) + ">");
  int fd = open(node(kSnap1).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "pinned for legal hold\n", 22), 22);
  EXPECT_EQ(xattr(kSnap1, "user.pbs.reason"), "pinned for legal hold\n");
  n = listxattr(node(kSnap1).c_str(), names, sizeof names);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(names, n).find("user.pbs.reason"), std::string::npos);
  EXPECT_NE(xattr(kSnap1, "user.pbs.holders").find("reason=\"pinned for legal hold"),
            std::string::npos);
  EXPECT_EQ(xattr(kSnap1, "user.pbs.state"), "exclusive");
  close(fd);
  EXPECT_EQ(listxattr(node("vm/100").c_str(), names, sizeof names), 0);  // directories: none
}

TEST_F(LockStateTest, ADirectHolderIsMatchedToItsPbsTask) {
  create_lock_file(kSnap1);
  FlockHolder proxy(lock_file(kSnap1), LOCK_SH);
  char pid_hex[16];
  snprintf(pid_hex, sizeof pid_hex, "%08X", static_cast<unsigned>(proxy.pid()));
  std::string upid = std::string("UPID:pbs1:") + pid_hex +
                     ":0001E240:00000001:6745A2B0:reader:store1\\x3avm-100:root@pam:";
  std::string other = std::string("UPID:pbs1:") + pid_hex +
                      ":0001E240:00000002:6745A2B0:verify:store1\\x3act-200:root@pam:";
  write_file(dir_ / "tasks-active", other + "\n" + upid + "\n");
  EXPECT_TRUE(
      eventually([&] { return xattr(kSnap1, "user.pbs.task") == upid + " (reader)\n"; }, 500ms))
      << xattr(kSnap1, "user.pbs.task");
  EXPECT_NE(xattr(kSnap1, "user.pbs.holders").find("task=\"" + escape_text(upid)),
            std::string::npos);
}

// Runs `pbs-lockctl list ARGS --json` and returns one line per lock: "object mode pid via".
std::string lockctl_list(const std::string& args) {
  std::string command = std::string(PBS_LOCKCTL) + " list " + args +
                        " --json | python3 -c 'import json,sys\n"
                        "for l in json.load(sys.stdin)[\"locks\"]:\n"
                        "  print(l[\"object\"], l[\"mode\"], l[\"pid\"], l[\"via\"], l[\"ns\"])'";
  return run_command(command).out;
}

TEST_F(LockStateTest, LockctlListShowsEveryHolderWithTheRealRequesters) {
  create_lock_file(kSnap2);
  FlockHolder direct(lock_file(kSnap2), LOCK_SH);
  int mine = open(node(kSnap1).c_str(), O_RDWR);
  ASSERT_GE(mine, 0);
  int ns_lock = open(node("ns/prod/vm/300/.lock").c_str(), O_RDONLY);
  ASSERT_GE(ns_lock, 0);
  std::string base = "--lock-root " + locks_;
  std::string all = lockctl_list(base);
  EXPECT_NE(all.find(std::string(kSnap1) + " exclusive " + std::to_string(getpid()) + " mount"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(std::string(kSnap2) + " shared " + std::to_string(direct.pid()) + " direct"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("vm/300 shared " + std::to_string(getpid()) + " mount prod"),
            std::string::npos)
      << all;
  EXPECT_EQ(lockctl_list(base + " --ns prod"),
            "vm/300 shared " + std::to_string(getpid()) + " mount prod\n");
  EXPECT_EQ(lockctl_list(base + " --store other1"), "");
  close(mine);
  close(ns_lock);
}

TEST_F(LockStateTest, AStaleLockFileIsMarkedStale) {
  const std::string gone = "vm/100/2023-01-01T00:00:00Z";
  make_directories(locks_ + "/store1");
  chown((locks_ + "/store1").c_str(), 34, 34);
  int fd = open(lock_file(gone).c_str(), O_CREAT | O_RDWR, 0660);
  ASSERT_GE(fd, 0);
  fchown(fd, 34, 34);
  close(fd);
  EXPECT_EQ(xattr(gone, "user.pbs.stale"), "yes");
}

}  // namespace
}  // namespace pbs::test
