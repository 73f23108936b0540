// The hostile-input catalogue: every operation a careless or malicious caller could try through
// the mount, each with the errno it must get, run from a child process (as root unless the row
// names another user). Symlinks are planted in the datastore (the fixture's vm/666), in the lock
// tree (a namespace directory) and as a lock file; the daemon must not follow them, create
// through them or chown their targets. At the end the datastore, the symlinks' targets and the
// rest of the scratch directory outside the lock root are byte-for-byte unchanged.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

struct HostileOp {
  std::string what;
  int expected;  ///< errno; 0: must succeed
  std::function<int()> op;
  uid_t uid = 0;
};

int result(int rc) {
  return rc < 0 ? errno : 0;
}
int open_errno(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}
int write_errno(const std::string& path, std::size_t size, off_t offset) {
  int fd = open(path.c_str(), O_WRONLY);
  if (fd < 0) return errno;
  std::string data(size, 'x');
  int error = pwrite(fd, data.data(), data.size(), offset) < 0 ? errno : 0;
  close(fd);
  return error;
}

class HostileInput : public MountTest {};

TEST_F(HostileInput, EveryOperationGetsItsErrnoAndNothingOutsideTheLockRootChanges) {
  // Lock tree traps: the namespace "prod" as a symlink, and a lock file as a symlink.
  ASSERT_EQ(child_open_errno(node(kSnap1), O_RDONLY), 0);  // creates locks/store1
  std::string elsewhere = dir_ / "elsewhere", target = dir_ / "target";
  make_directories(elsewhere);
  write_file(target, "not a lock file\n");
  ASSERT_EQ(symlink(elsewhere.c_str(), (locks_ + "/store1/prod").c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), lock_file(kSnap2).c_str()), 0);
  std::string outside = tree_fingerprint(elsewhere) + tree_fingerprint(target);
  NodeHolder other(node("ct/200/2024-03-01T06:00:00Z"), O_RDWR);  // somebody else's hold
  ASSERT_EQ(other.error(), 0);

  const std::string snap = node(kSnap1), group = node("vm/100"), store = node("");
  const std::string status = mnt_ + "/.pbs-lockfs";
  const uid_t nobody = 65534;
  std::vector<HostileOp> table = {
      // Names PBS would never produce.
      {"a name of dots", ENOENT, [&] { return open_errno(node("vm/..."), O_RDONLY); }},
      {"dots inside a name", ENOENT, [&] { return open_errno(node("vm/1..00"), O_RDONLY); }},
      {"binary bytes in a name", ENOENT,
       [&] { return open_errno(node("vm/\x01\x7f\xfe\xff"), O_RDONLY); }},
      {"a newline in a name", ENOENT, [&] { return open_errno(node("vm/10\n0"), O_RDONLY); }},
      {"a 300-byte name", ENAMETOOLONG,
       [&] { return open_errno(node("vm/" + std::string(300, 'a')), O_RDONLY); }},
      {"a 5000-byte path", ENAMETOOLONG,
       [&] {
         std::string path = store;
         while (path.size() < 5000)
           path += "/ns/abcdefgh";
         return open_errno(path, O_RDONLY);
       }},
      {"namespace depth 8", ENOENT,
       [&] { return open_errno(node("ns/a/ns/b/ns/c/ns/d/ns/e/ns/f/ns/g/ns/h/vm"), O_RDONLY); }},
      {"an invalid month", ENOENT,
       [&] { return open_errno(node("vm/100/2024-13-01T00:00:00Z"), O_RDONLY); }},
      {"a time without seconds", ENOENT,
       [&] { return open_errno(node("vm/100/2024-01-01T00:00Z"), O_RDONLY); }},
      {"a time with a zone offset", ENOENT,
       [&] { return open_errno(node("vm/100/2024-01-01T00:00:00+01:00"), O_RDONLY); }},
      {"an id with a space", ENOENT, [&] { return open_errno(node("vm/1 00"), O_RDONLY); }},
      {"an id starting with -", ENOENT, [&] { return open_errno(node("vm/-bad"), O_RDONLY); }},
      {"an unknown backup type", ENOENT, [&] { return open_errno(node("lxc/1"), O_RDONLY); }},
      {"a group symlinked out of the datastore", ENOENT,
       [&] { return open_errno(node("vm/666/2024-01-01T00:00:00Z"), O_RDONLY); }},
      {"a manifest node of a missing snapshot", ENOENT,
       [&] { return open_errno(node("vm/100/.2030-01-01T00:00:00Z.manifest"), O_RDONLY); }},
      // Creating things.
      {"O_CREAT of a plain file", EPERM,
       [&] { return open_errno(node("vm/100/newfile"), O_CREAT | O_WRONLY); }},
      {"O_CREAT of a snapshot PBS does not have", EPERM,
       [&] { return open_errno(node("vm/100/2030-01-01T00:00:00Z"), O_CREAT | O_RDWR); }},
      {"O_CREAT|O_EXCL of an existing node", EEXIST,
       [&] { return open_errno(snap, O_CREAT | O_EXCL | O_RDWR); }},
      {"mkdir in a group", EPERM, [&] { return result(mkdir((group + "/x").c_str(), 0755)); }},
      {"mkdir of a store", EPERM, [&] { return result(mkdir((mnt_ + "/store2").c_str(), 0755)); }},
      {"mknod", EPERM, [&] { return result(mknod((group + "/fifo").c_str(), S_IFIFO | 0644, 0)); }},
      {"symlink", EPERM, [&] { return result(symlink("/etc/passwd", (group + "/l").c_str())); }},
      {"link", EPERM, [&] { return result(link(snap.c_str(), (group + "/hard").c_str())); }},
      {"rename a snapshot", EPERM,
       [&] { return result(rename(snap.c_str(), (group + "/2030-01-01T00:00:00Z").c_str())); }},
      {"rename a group", EPERM,
       [&] { return result(rename(group.c_str(), node("vm/101").c_str())); }},
      // Changing things.
      {"a write over 4 KiB", EFBIG, [&] { return write_errno(snap, 5000, 0); }},
      {"a write beyond 4 KiB", EFBIG, [&] { return write_errno(snap, 10, 4096); }},
      {"setxattr of a pbs attribute", EPERM,
       [&] { return result(setxattr(snap.c_str(), "user.pbs.state", "free", 4, 0)); }},
      {"setxattr on a directory", EPERM,
       [&] { return result(setxattr(group.c_str(), "user.x", "1", 1, 0)); }},
      {"removexattr", EPERM, [&] { return result(removexattr(snap.c_str(), "user.pbs.reason")); }},
      {"getxattr of an unknown name", ENODATA,
       [&] {
         char b[64];
         return result(static_cast<int>(getxattr(snap.c_str(), "user.evil", b, sizeof b)));
       }},
      // Outside user. nothing is supported: ls -l (coreutils) then stops asking per entry.
      {"getxattr of security.selinux", EOPNOTSUPP,
       [&] {
         char b[64];
         return result(static_cast<int>(getxattr(snap.c_str(), "security.selinux", b, sizeof b)));
       }},
      {"chmod of a node", EPERM, [&] { return result(chmod(snap.c_str(), 0777)); }},
      {"chown of a node", EPERM, [&] { return result(chown(snap.c_str(), 0, 0)); }},
      {"chmod of a directory", EPERM, [&] { return result(chmod(group.c_str(), 0777)); }},
      {"truncate of a directory", EISDIR, [&] { return result(truncate(group.c_str(), 0)); }},
      {"truncate of a node by path", EPERM, [&] { return result(truncate(snap.c_str(), 0)); }},
      {"opening a directory for writing", EISDIR, [&] { return open_errno(group, O_RDWR); }},
      {"writing the status file", EACCES, [&] { return open_errno(status, O_WRONLY); }},
      // Removing things.
      {"unlink of a group", EISDIR, [&] { return result(unlink(group.c_str())); }},
      {"unlink of the status file", EPERM, [&] { return result(unlink(status.c_str())); }},
      {"rmdir of a store", EPERM, [&] { return result(rmdir(store.c_str())); }},
      {"rmdir of a namespace", EPERM, [&] { return result(rmdir(node("ns/prod").c_str())); }},
      {"rmdir of a group with snapshots", ENOTEMPTY, [&] { return result(rmdir(group.c_str())); }},
      {"unlink of a snapshot somebody else holds", EBUSY,
       [&] { return result(unlink(node("ct/200/2024-03-01T06:00:00Z").c_str())); }},
      {"a non-blocking lock somebody else holds", EWOULDBLOCK,
       [&] { return open_errno(node("ct/200/2024-03-01T06:00:00Z"), O_RDONLY | O_NONBLOCK); }},
      // Symlinks planted in the lock tree: never followed, nothing created or chowned.
      {"a lock under a symlinked namespace directory", ELOOP,
       [&] { return open_errno(node("ns/prod/vm/300/2024-04-01T00:00:00Z"), O_RDWR); }},
      {"a lock whose lock file is a symlink", ELOOP,
       [&] { return open_errno(node(kSnap2), O_RDWR); }},
      {"removing a snapshot whose lock file is a symlink", ELOOP,
       [&] { return result(unlink(node(kSnap2).c_str())); }},
      // An unprivileged user trying everything.
      {"nobody: list the root", EACCES, [&] { return open_errno(mnt_, O_RDONLY | O_DIRECTORY); },
       nobody},
      {"nobody: list a store", EACCES, [&] { return open_errno(store, O_RDONLY | O_DIRECTORY); },
       nobody},
      // (A name a permitted user looked up in the last second may be answered from the
      // kernel's cache without asking the daemon: README, "Who may do what". This one is not.)
      {"nobody: stat a node", EACCES,
       [&] {
         struct stat st {};
         return result(stat(node("ns/prod/vm/300/.2024-04-01T00:00:00Z.manifest").c_str(), &st));
       },
       nobody},
      {"nobody: lock shared", EACCES, [&] { return open_errno(snap, O_RDONLY); }, nobody},
      {"nobody: lock exclusive", EACCES, [&] { return open_errno(snap, O_RDWR); }, nobody},
      {"nobody: unlink", EACCES, [&] { return result(unlink(snap.c_str())); }, nobody},
      {"nobody: rmdir", EACCES, [&] { return result(rmdir(group.c_str())); }, nobody},
      {"nobody: getxattr", EACCES,
       [&] {
         char b[64];
         return result(static_cast<int>(getxattr(snap.c_str(), "user.pbs.state", b, sizeof b)));
       },
       nobody},
      {"nobody: mkdir", EACCES, [&] { return result(mkdir((group + "/x").c_str(), 0755)); },
       nobody},
      {"nobody: read the status file", 0, [&] { return open_errno(status, O_RDONLY); }, nobody},
  };
  ASSERT_GE(table.size(), 40u);
  for (const auto& row : table) {
    EXPECT_EQ(child_errno(row.op, row.uid), row.expected)
        << row.what << ": expected " << std::strerror(row.expected);
  }
  other.release();

  EXPECT_EQ(tree_fingerprint(elsewhere) + tree_fingerprint(target), outside);
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
  struct stat st {};
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);  // never chowned to backup through the symlink
  // The daemon is still serving, and says why it refused (a sample of the log lines).
  EXPECT_EQ(child_open_errno(node(kSnap1), O_RDONLY), 0);
  // Refused at the open, or already at the lookup when the kernel's entry for a parent has
  // expired (timing): either way the line names the path and the user.
  const std::string log = daemon_->log();
  EXPECT_TRUE(log.find("refused lock of store1/vm/100/2024-01-01T00:00:00Z to") !=
                  std::string::npos ||
              log.find("refused lookup of store1") != std::string::npos)
      << log;
  EXPECT_NE(log.find("uid 65534: EACCES"), std::string::npos) << log;
  EXPECT_NE(daemon_->log().find("refused rename"), std::string::npos);
}

}  // namespace
}  // namespace pbs::test
