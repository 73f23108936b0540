// What an admin meets around the locks: a datastore that disappears while mounted, copying a
// node's text, rmdir of a group that still exists.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/xattr.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

using AdminViewTest = MountTest;

TEST_F(AdminViewTest, ADatastoreThatDisappearsWhileMountedIsLoggedOnceAndWhenBack) {
  const std::string moved = datastore_ + ".away";
  ASSERT_EQ(rename(datastore_.c_str(), moved.c_str()), 0);
  for (int i = 0; i < 3; ++i)
    for (auto& e : std::filesystem::directory_iterator(node("")))
      (void)e;
  ASSERT_EQ(rename(moved.c_str(), datastore_.c_str()), 0);
  for (auto& e : std::filesystem::directory_iterator(node("")))
    (void)e;
  std::string log = daemon_->log();
  auto gone = log.find("datastore store1: open datastore " + datastore_);
  ASSERT_NE(gone, std::string::npos) << log;
  EXPECT_EQ(log.find("datastore store1: open datastore", gone + 1), std::string::npos)
      << "logged more than once";
  EXPECT_NE(log.find("until it is back only its lock files show"), std::string::npos);
  EXPECT_NE(log.find("datastore store1: " + datastore_ + " is readable again"), std::string::npos)
      << log;
}

// The size `stat` shows is the number of holders; SEEK_HOLE knows the text's length, so cp
// (coreutils 9 copies data regions) copies all of it.
TEST_F(AdminViewTest, CpCopiesTheWholeStatusText) {
  int fd = open(node(kSnap1).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  EXPECT_GT(hole, 100);
  EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 0);
  EXPECT_EQ(lseek(fd, hole, SEEK_DATA), -1);
  EXPECT_EQ(errno, ENXIO);
  close(fd);
  const std::string copy = dir_ / "copy";
  ASSERT_EQ(std::system(("cp -a '" + node(kSnap1) + "' '" + copy + "'").c_str()), 0);
  std::string text = read_file(copy);
  EXPECT_EQ(text.rfind("object: store1:vm/100/2024-01-01T00:00:00Z\nstate: shared\n", 0), 0u)
      << text;
  EXPECT_NE(text.find("waiters: 0\n"), std::string::npos) << text;
}

// rm and rmdir remove lock files, never backups: a group that still exists in the datastore
// stays, as the man page says.
TEST_F(AdminViewTest, RmdirOfAGroupThatExistsInTheDatastoreRemovesOnlyItsLockFile) {
  const std::string group = "ns/prod/ns/site-a/host/db1";
  int fd = open(node(group + "/.lock").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string file = lock_file("host/db1", "prod/site-a");
  // The close reaches the daemon a moment later: until then our own hold makes rmdir EBUSY.
  ASSERT_TRUE(eventually([&] { return other_process_can_flock(file, LOCK_EX); }));
  EXPECT_EQ(rmdir(node(group).c_str()), 0) << strerror(errno);
  EXPECT_NE(access(file.c_str(), F_OK), 0);
  struct stat st {};
  EXPECT_EQ(stat(node(group).c_str(), &st), 0) << "the group exists in the datastore";
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

}  // namespace
}  // namespace pbs::test
