// Parsing /proc/locks, and finding a real flock(2) in it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proc_locks.hpp"
#include "temp_dir.hpp"

namespace pbs {
namespace {

TEST(ProcLocks, ParsesFlockLinesOnly) {
  auto locks = parse_proc_locks(
      "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF\n"
      "1: -> FLOCK  ADVISORY  READ  1240 00:1a:5678 0 EOF\n"
      "2: POSIX  ADVISORY  WRITE 99 fd:01:42 0 EOF\n"
      "3: OFDLCK ADVISORY  READ  -1 fd:01:43 0 EOF\n"
      "4: FLOCK  ADVISORY  READ  77 fd:0a:1234567890 0 EOF\n"
      "garbage\n"
      "5: FLOCK  ADVISORY  READ  x zz:yy 0 EOF\n");
  ASSERT_EQ(locks.size(), 3u);
  EXPECT_TRUE(locks[0].exclusive);
  EXPECT_FALSE(locks[0].waiting);
  EXPECT_EQ(locks[0].pid, 1234);
  EXPECT_EQ(locks[0].device, makedev(0, 0x1a));
  EXPECT_EQ(locks[0].inode, 5678u);
  EXPECT_TRUE(locks[1].waiting);
  EXPECT_FALSE(locks[1].exclusive);
  EXPECT_EQ(locks[2].device, makedev(0xfd, 0x0a));
  EXPECT_EQ(locks[2].inode, 1234567890u);
}

TEST(ProcLocks, FindsARealFlock) {
  test::TempDir dir;
  int fd = open((dir / "f").c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_SH), 0);
  struct stat st {};
  fstat(fd, &st);
  auto locks = read_proc_locks();
  ASSERT_TRUE(locks.ok());
  int found = 0;
  for (const auto& l : *locks) {
    if (l.device == st.st_dev && l.inode == st.st_ino) {
      ++found;
      EXPECT_EQ(l.pid, getpid());
      EXPECT_FALSE(l.exclusive);
    }
  }
  EXPECT_EQ(found, 1);
  auto me = process_info(getpid());
  EXPECT_TRUE(me.alive);
  EXPECT_EQ(me.uid, getuid());
  EXPECT_NE(me.command, "?");
  EXPECT_LT(me.started, std::chrono::system_clock::now());
  close(fd);
}

}  // namespace
}  // namespace pbs
