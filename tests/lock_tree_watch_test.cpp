// inotify on the lock tree: opens and closes of lock files by any process, in directories that
// existed at start and in ones created later, one watch per directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "lock_fixture.hpp"
#include "lock_tree_watch.hpp"

namespace pbs::test {
namespace {

using Kind = LockTreeWatch::Event::Kind;

class LockTreeWatchTest : public LockTreeTest {
 protected:
  // Events read within a second until `done` says enough.
  std::vector<LockTreeWatch::Event> read_until(
      LockTreeWatch& watch,
      const std::function<bool(const std::vector<LockTreeWatch::Event>&)>& done) {
    std::vector<LockTreeWatch::Event> all;
    for (int i = 0; i < 100 && !done(all); ++i) {
      bool overflowed = false;
      auto more = watch.read(overflowed);
      EXPECT_FALSE(overflowed);
      all.insert(all.end(), more.begin(), more.end());
      if (!done(all)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return all;
  }
  static bool has(const std::vector<LockTreeWatch::Event>& events, Kind kind,
                  const std::string& directory, const std::string& name) {
    for (const auto& e : events) {
      if (e.kind == kind && e.directory == directory && e.name == name) return true;
    }
    return false;
  }
};

TEST_F(LockTreeWatchTest, ReportsOpensAndClosesInNewAndOldDirectoriesWithOneWatchEach) {
  make_directories(root_path_ + "/store1/a:b/hashed");
  auto watch = LockTreeWatch::create(*root_);
  ASSERT_TRUE(watch) << watch.error().message;
  watch->watch_tree();
  EXPECT_EQ(watch->watches(), 4u);  // root, store1, store1/a:b, store1/a:b/hashed
  write_file(root_path_ + "/store1/vm-100", "");
  int fd = open((root_path_ + "/store1/vm-100").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  auto events =
      read_until(*watch, [](const auto& e) { return has(e, Kind::kClosed, "store1", "vm-100"); });
  EXPECT_TRUE(has(events, Kind::kCreated, "store1", "vm-100"));
  EXPECT_TRUE(has(events, Kind::kOpened, "store1", "vm-100"));
  EXPECT_TRUE(has(events, Kind::kClosed, "store1", "vm-100"));

  // A store and a namespace created after the start are watched as they appear.
  make_directories(root_path_ + "/store2");
  read_until(*watch, [&](const auto&) { return watch->watches() == 5u; });
  make_directories(root_path_ + "/store2/prod");
  read_until(*watch, [&](const auto&) { return watch->watches() == 6u; });
  EXPECT_EQ(watch->watches(), 6u);
  write_file(root_path_ + "/store2/prod/ct-200", "x");
  events = read_until(*watch,
                      [](const auto& e) { return has(e, Kind::kClosed, "store2/prod", "ct-200"); });
  EXPECT_TRUE(has(events, Kind::kClosed, "store2/prod", "ct-200"));
  EXPECT_FALSE(watch->limited());
}

// PBS makes a namespace's directory and at once opens and locks its first lock file: the open may
// come before the new directory is watched (and a flock raises no event), so the files found in
// a directory as it is watched are reported as created, for a re-check.
TEST_F(LockTreeWatchTest, FilesMadeInANewDirectoryBeforeItIsWatchedAreReported) {
  make_directories(root_path_ + "/store1");
  auto watch = LockTreeWatch::create(*root_);
  ASSERT_TRUE(watch) << watch.error().message;
  watch->watch_tree();
  make_directories(root_path_ + "/store1/a:b/hashed");
  write_file(root_path_ + "/store1/a:b/vm-100", "");
  write_file(root_path_ + "/store1/a:b/hashed/0123", "");
  auto events = read_until(*watch, [](const auto& e) {
    return has(e, Kind::kCreated, "store1/a:b", "vm-100") &&
           has(e, Kind::kCreated, "store1/a:b/hashed", "0123");
  });
  EXPECT_TRUE(has(events, Kind::kCreated, "store1/a:b", "vm-100"));
  EXPECT_TRUE(has(events, Kind::kCreated, "store1/a:b/hashed", "0123"));
  EXPECT_EQ(watch->watches(), 4u);
}

TEST_F(LockTreeWatchTest, ASymlinkedDirectoryIsNeverWatched) {
  TempDir elsewhere;
  make_directories(root_path_ + "/store1");
  ASSERT_EQ(symlink(elsewhere.path().c_str(), (root_path_ + "/store1/evil").c_str()), 0);
  auto watch = LockTreeWatch::create(*root_);
  ASSERT_TRUE(watch);
  watch->watch_tree();
  EXPECT_EQ(watch->watches(), 2u);  // root and store1
  write_file(elsewhere / "vm-100", "");
  auto events = read_until(*watch, [](const auto&) { return false; });
  for (const auto& e : events)
    EXPECT_NE(e.name, "vm-100") << e.directory;
}

}  // namespace
}  // namespace pbs::test
