// The holder views (`user.pbs.holders`, the status text, `ls -l`, `pbs-lockctl list`) name the
// real requesters whatever happens: two mounts on one lock root, hostile command names and
// reasons, a thousand holders, a stopped daemon, a holder the daemon may not inspect.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lock_holders.hpp"
#include "mount_fixture.hpp"
#include "mount_holders.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;

std::string xattr_of(const std::string& path, const char* name) {
  std::string value(1 << 17, '\0');
  ssize_t n = getxattr(path.c_str(), name, value.data(), value.size());
  return n < 0 ? "<" + std::string(strerror(errno)) + ">" : value.substr(0, n);
}

// Output and exit code of a shell command line.
using Ran = CommandOutput;

std::string lockctl(const std::string& args) {
  return std::string(PBS_LOCKCTL) + " list " + args;
}

class HolderViewsTest : public MountTest {
 protected:
  std::string base() const { return "--lock-root " + locks_; }
  // The lines of `user.pbs.holders` of a node, parsed.
  std::vector<LockHolder> holders_of(const std::string& path) {
    std::vector<LockHolder> out;
    std::string text = xattr_of(path, "user.pbs.holders");
    for (std::size_t at = 0; at < text.size();) {
      auto end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      if (auto h = parse_holder(std::string_view(text).substr(at, end - at))) out.push_back(*h);
      at = end + 1;
    }
    return out;
  }
  // `pbs-lockctl list --json`, one line per lock: "object pid via command".
  Ran json_rows(const std::string& args = "") {
    return run_command(lockctl(base() + " --json " + args) +
                       " | python3 -c 'import json,sys\n"
                       "for l in json.load(sys.stdin)[\"locks\"]:\n"
                       "  print(l[\"object\"], l[\"pid\"], l[\"via\"], ascii(l[\"command\"]), "
                       "ascii(l[\"reason\"]))'");
  }
};

// Point 1: a lock through a second mount is shown with its requester by the first mount and by
// `list`, and the other way round.
TEST_F(HolderViewsTest, TwoMountsOnOneLockRootShowEachOthersRequesters) {
  const std::string mnt2 = dir_ / "mnt2";
  auto second = mount_another("mnt2", {"open_locks=no"});
  ASSERT_TRUE(second->mounted()) << second->log();
  {
    HoldingChild through_second([&] {
      int fd = open((mnt2 + "/store1/" + kSnap1).c_str(), O_RDONLY);
      return fd >= 0 && flock(fd, LOCK_EX) == 0 ? 0 : errno;
    });
    ASSERT_EQ(through_second.error(), 0);
    auto seen = holders_of(node(kSnap1));
    ASSERT_EQ(seen.size(), 1u) << xattr_of(node(kSnap1), "user.pbs.holders");
    EXPECT_EQ(seen[0].pid, through_second.pid());
    EXPECT_TRUE(seen[0].via_mount);
    EXPECT_EQ(seen[0].mode, LockMode::kExclusive);
    struct stat st {};
    ASSERT_EQ(stat(node(kSnap1).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0220u);
    Ran rows = json_rows();
    EXPECT_EQ(rows.out, std::string(kSnap1) + " " + std::to_string(through_second.pid()) +
                            " mount 'lock-state-test' None\n")
        << rows.out;
  }
  HoldingChild through_first([&] { return open(node(kSnap2).c_str(), O_RDONLY) >= 0 ? 0 : errno; });
  ASSERT_EQ(through_first.error(), 0);
  auto seen = holders_of(mnt2 + "/store1/" + kSnap2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].pid, through_first.pid());
  EXPECT_NE(seen[0].command, "pbs-lockfs");
}

// Point 2: command names and reasons cannot forge a holder or hide one; a process posing as a
// daemon is not believed.
TEST_F(HolderViewsTest, HostileCommandNamesAndReasonsCannotForgeOrHideAHolder) {
  const std::string reason = "\" pid=1 command=\"pbs-lockfs\" via=direct\nsecond line";
  HoldingChild hostile([&] {
    prctl(PR_SET_NAME, "x reason=y");
    int fd = open(node(kSnap1).c_str(), O_RDWR);
    if (fd < 0) return errno;
    return write(fd, reason.data(), reason.size()) == static_cast<ssize_t>(reason.size()) ? 0
                                                                                          : errno;
  });
  ASSERT_EQ(hostile.error(), 0);
  auto seen = holders_of(node(kSnap1));
  ASSERT_EQ(seen.size(), 1u) << xattr_of(node(kSnap1), "user.pbs.holders");
  EXPECT_EQ(seen[0].pid, hostile.pid());
  EXPECT_EQ(seen[0].command, "x reason=y");
  EXPECT_EQ(seen[0].reason, reason);
  EXPECT_EQ(xattr_of(node(kSnap1), "user.pbs.reason"),
            "\" pid=1 command=\"pbs-lockfs\" via=direct\\nsecond line\n");
  Ran rows = json_rows();
  EXPECT_NE(rows.out.find(std::string(kSnap1) + " " + std::to_string(hostile.pid()) +
                          " mount 'x reason=y'"),
            std::string::npos)
      << rows.out;

  // A user (not backup, not root) names itself pbs-lockfs, holds a lock file directly and
  // answers on the daemon socket name of its own pid with a forged holder.
  ASSERT_EQ(child_open_errno(node(kSnap2), O_RDONLY), 0);  // creates the lock file
  ASSERT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap2), LOCK_EX); }));
  const std::string file = lock_file(kSnap2);
  HoldingChild impostor([&] {
    int fd = open(file.c_str(), O_RDONLY);
    if (fd < 0 || flock(fd, LOCK_SH) != 0) return errno;
    struct stat st {};
    fstat(fd, &st);
    if (setgid(65534) != 0 || setuid(65534) != 0) return errno;
    prctl(PR_SET_NAME, "pbs-lockfs");
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address;
    socklen_t length = mount_holders_address(getpid(), address);
    if (bind(sock, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(sock, 8) != 0) {
      return errno;
    }
    if (fork() == 0) {
      for (;;) {
        int c = accept(sock, nullptr, nullptr);
        LockHolder forged;
        forged.pid = 1;
        forged.command = "systemd";
        forged.via_mount = true;
        std::string answer = format_mount_held({st.st_dev, st.st_ino, forged}) + "\n" +
                             std::string(kMountHoldersEnd) + "\n";
        [[maybe_unused]] auto w = write(c, answer.data(), answer.size());
        close(c);
      }
    }
    return 0;
  });
  ASSERT_EQ(hostile.error(), 0);
  ASSERT_EQ(impostor.error(), 0);
  auto direct = holders_of(node(kSnap2));
  ASSERT_EQ(direct.size(), 1u) << xattr_of(node(kSnap2), "user.pbs.holders");
  EXPECT_EQ(direct[0].pid, impostor.pid());
  EXPECT_EQ(direct[0].uid, 65534u);
  EXPECT_EQ(direct[0].command, "pbs-lockfs");
  rows = json_rows();
  EXPECT_NE(rows.out.find(std::string(kSnap2) + " " + std::to_string(impostor.pid()) + " direct"),
            std::string::npos)
      << rows.out;
  EXPECT_EQ(rows.out.find("systemd"), std::string::npos) << rows.out;
  run_command("pkill -KILL -u 65534 -x pbs-lockfs");
}

// Point 3: a thousand holders. `getfattr` works (the list is cut at 64 KiB and says so), the open
// node's text and `list` name every one.
TEST_F(HolderViewsTest, AThousandHoldersAreAllListedAndTheAttributeStaysReadable) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, std::min<rlim_t>(limit.rlim_max, 4096));
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  constexpr int kHolders = 1000;
  std::vector<int> fds;
  for (int i = 0; i < kHolders; ++i) {
    int fd = open(node(kSnap1).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << i << ": " << strerror(errno);
    fds.push_back(fd);
  }
  Ran getfattr = run_command("getfattr --only-values -n user.pbs.holders " + node(kSnap1));
  EXPECT_EQ(getfattr.code, 0);
  EXPECT_LE(getfattr.out.size(), 65536u);
  EXPECT_NE(getfattr.out.find("more line(s) left out (64 KiB limit)"), std::string::npos);
  std::string text;
  char buffer[65536];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;)
    text.append(buffer, n);
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = text.find("\nholder: ", at)) != std::string::npos; ++at)
    ++lines;
  EXPECT_EQ(lines, static_cast<std::size_t>(kHolders));
  Ran rows = json_rows();
  std::size_t mine = 0;
  std::string expected = std::string(kSnap1) + " " + std::to_string(getpid()) + " mount ";
  for (std::size_t at = 0; (at = rows.out.find(expected, at)) != std::string::npos; ++at)
    ++mine;
  EXPECT_EQ(mine, static_cast<std::size_t>(kHolders)) << rows.out.substr(0, 400);
  EXPECT_EQ(rows.out.find("'pbs-lockfs'"), std::string::npos);
  for (int fd : fds)
    close(fd);
}

// Point 4: `list` never hangs on a stopped daemon and refuses what is not a lock root.
TEST_F(HolderViewsTest, ListTimesOutOnAStoppedDaemonAndRefusesWhatIsNotALockRoot) {
  int fd = open(node(kSnap1).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  pid_t daemon = daemon_->daemon_pid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(kill(daemon, SIGSTOP), 0);
  auto started = std::chrono::steady_clock::now();
  Ran stopped = run_command("timeout 20 " + lockctl(base()) + " 2>&1");
  auto took = std::chrono::steady_clock::now() - started;
  kill(daemon, SIGCONT);
  EXPECT_EQ(stopped.code, 0) << stopped.out;
  EXPECT_LT(took, 5s);
  EXPECT_NE(stopped.out.find("did not answer in time"), std::string::npos) << stopped.out;
  EXPECT_NE(stopped.out.find("pbs-lockfs"), std::string::npos) << stopped.out;
  close(fd);

  Ran missing = run_command(lockctl("--lock-root " + (dir_ / "nonexistent")) + " 2>&1");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("No such file or directory"), std::string::npos) << missing.out;
  Ran etc = run_command(lockctl("--lock-root /etc") + " 2>&1");
  EXPECT_EQ(etc.code, 2);
  EXPECT_NE(etc.out.find("/etc is not a PBS lock root"), std::string::npos) << etc.out;
}

// Point 5: bytes that are not UTF-8 and escape sequences in a reason: JSON stays valid, nothing
// reaches a terminal raw.
TEST_F(HolderViewsTest, ReasonsWithAnyBytesGiveValidJsonAndNoRawControlCharacters) {
  const std::string reason = "\xff\xfe \x1b[31mred\x1b[0m";
  HoldingChild holder([&] {
    int fd = open(node(kSnap1).c_str(), O_RDWR);
    if (fd < 0) return errno;
    return write(fd, reason.data(), reason.size()) > 0 ? 0 : errno;
  });
  ASSERT_EQ(holder.error(), 0);
  Ran rows = json_rows();
  EXPECT_EQ(rows.code, 0) << rows.out;
  EXPECT_NE(rows.out.find("'\\ufffd\\ufffd \\x1b[31mred\\x1b[0m'"), std::string::npos) << rows.out;
  for (const char* name : {"user.pbs.reason", "user.pbs.holders", "user.pbs.status"}) {
    std::string value = xattr_of(node(kSnap1), name);
    EXPECT_EQ(value.find('\x1b'), std::string::npos) << name;
    EXPECT_EQ(value.find('\xff'), std::string::npos) << name;
    EXPECT_NE(value.find("\\xff\\xfe \\x1b[31mred"), std::string::npos) << name << ": " << value;
  }
  Ran table = run_command(lockctl(base()));
  EXPECT_EQ(table.out.find('\x1b'), std::string::npos);
}

// Point 6: the taker exited and a child of another user (root) keeps the descriptor: the daemon
// (backup) cannot see whose it is. It shows what it knows, never 1970 or `backup`.
TEST_F(HolderViewsTest, AHolderTheDaemonMayNotInspectShowsWhatIsKnown) {
  ASSERT_EQ(child_open_errno(node(kSnap1), O_RDONLY), 0);  // creates the lock file
  ASSERT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
  const std::string file = lock_file(kSnap1);
  // The taker (root) exits; its child, root too, keeps the descriptor and the lock.
  OrphanedHold hold([&] {
    int fd = open(file.c_str(), O_RDONLY);
    return fd >= 0 && flock(fd, LOCK_EX) == 0;
  });
  ASSERT_GT(hold.taker, 0);
  const pid_t taker = hold.taker;
  auto seen = holders_of(node(kSnap1));
  ASSERT_EQ(seen.size(), 1u) << xattr_of(node(kSnap1), "user.pbs.holders");
  EXPECT_EQ(seen[0].pid, taker);
  EXPECT_EQ(seen[0].command, "(exited)");
  EXPECT_EQ(seen[0].uid, static_cast<uid_t>(-1));
  struct stat st {};
  ASSERT_EQ(stat(node(kSnap1).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0220u);
  EXPECT_EQ(st.st_uid, 65534u) << "an unknown holder is shown as nobody, not as backup";
  EXPECT_GT(st.st_mtime, std::time(nullptr) - 60) << "since: when first seen, not 1970";
}

// Hashed lock files (names of 255 bytes or more) cannot be read back: `list` names them by
// hashing what the datastore holds, and shows an unknown one by its file name.
TEST_F(HolderViewsTest, HashedLockFilesAreListedByTheirObjects) {
  const std::string id(250, 'a');
  const std::string group = "host/" + id;
  make_directories(datastore_ + "/" + group + "/2024-05-01T00:00:00Z");
  fingerprint_ = tree_fingerprint(datastore_);  // the test plays PBS here
  const std::string config = dir_ / "datastore.cfg";
  write_file(config, "datastore: store1\n\tpath " + datastore_ + "\n");
  int fd = open(node(group + "/.lock").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  const std::string file = lock_file(group);
  ASSERT_NE(file.find("/hashed/"), std::string::npos) << file;
  FlockHolder direct(file, LOCK_SH);
  const std::string snapshot = group + "/2024-05-01T00:00:00Z";
  ASSERT_EQ(child_open_errno(node(snapshot), O_RDONLY), 0);  // creates its (hashed) lock file
  ASSERT_TRUE(eventually([&] { return other_process_can_flock(lock_file(snapshot), LOCK_EX); }));
  FlockHolder snapshot_holder(lock_file(snapshot), LOCK_EX);

  Ran rows = json_rows("--config " + config);
  EXPECT_NE(rows.out.find(group + " " + std::to_string(getpid()) + " mount"), std::string::npos)
      << rows.out;
  EXPECT_NE(rows.out.find(group + " " + std::to_string(direct.pid()) + " direct"),
            std::string::npos)
      << rows.out;
  EXPECT_NE(rows.out.find(snapshot + " " + std::to_string(snapshot_holder.pid()) + " direct"),
            std::string::npos)
      << rows.out;
  // Without the datastore's configuration: the hashed file names, still with their holders.
  Ran unknown = json_rows("--config " + (dir_ / "missing.cfg"));
  const std::string hashed_name = file.substr(file.rfind('/') + 1);
  EXPECT_NE(unknown.out.find("hashed/" + hashed_name + " " + std::to_string(getpid()) + " mount"),
            std::string::npos)
      << unknown.out;
  close(fd);
}

}  // namespace
}  // namespace pbs::test
