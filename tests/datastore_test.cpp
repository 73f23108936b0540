// Listing a datastore from disk: only valid PBS names, no symlinks followed, nothing written.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "datastore.hpp"
#include "safe_dir.hpp"
#include "temp_dir.hpp"
#include "unique_fd.hpp"

namespace pbs {
namespace {

using Strings = std::vector<std::string>;

class DatastoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = dir_ / "store";
    for (auto d : {".chunks/0000", "vm/100/2024-01-01T00:00:00Z", "vm/100/2024-01-02T00:00:00Z",
                   "vm/100/2024-13-01T00:00:00Z", "vm/100/not-a-time", "vm/-bad", "vm/.hidden",
                   "ct/200", "lxc/300", "ns/prod/host/web1/2025-03-26T11:44:12Z",
                   "ns/prod/ns/site-a/vm/1", "ns/-bad", "ns/a b"}) {
      test::make_directories(base_ + "/" + d);
    }
    test::write_file(base_ + "/vm/100/owner", "root@pam\n");
    test::write_file(base_ + "/vm/100/2024-01-03T00:00:00Z", "a file, not a snapshot");
    test::make_directories(dir_ / "outside/vm/666/2024-01-01T00:00:00Z");
    symlink((dir_ / "outside/vm/666").c_str(), (base_ + "/vm/777").c_str());
    symlink((dir_ / "outside").c_str(), (base_ + "/ns/linked").c_str());
    symlink((dir_ / "outside/vm").c_str(), (base_ + "/host").c_str());
  }
  test::TempDir dir_;
  std::string base_;
};

TEST_F(DatastoreTest, ListsOnlyValidRealDirectories) {
  Datastore store("store1", base_);
  Namespace root;
  EXPECT_EQ(*store.child_namespaces(root), Strings{"prod"});
  EXPECT_EQ(*store.types(root), (std::vector<BackupType>{BackupType::kCt, BackupType::kVm}));
  EXPECT_EQ(*store.group_ids(root, BackupType::kVm), Strings{"100"});
  EXPECT_EQ(*store.snapshot_times(root, {BackupType::kVm, "100"}),
            (Strings{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"}));
  auto prod = *Namespace::parse("prod");
  EXPECT_EQ(*store.child_namespaces(prod), Strings{"site-a"});
  EXPECT_EQ(*store.group_ids(prod, BackupType::kHost), Strings{"web1"});
  EXPECT_EQ(*store.group_ids(*Namespace::parse("prod/site-a"), BackupType::kVm), Strings{"1"});
}

TEST_F(DatastoreTest, SymlinksAreNeverFollowed) {
  Datastore store("store1", base_);
  // An answer, true or false; an error (out of descriptors) counts as neither.
  auto has_directory = [&](const std::string& relative) {
    auto found = store.has_directory(relative);
    EXPECT_TRUE(found.ok()) << relative << ": " << found.error().message;
    return found.ok() && *found;
  };
  EXPECT_FALSE(has_directory("vm/777"));
  EXPECT_FALSE(has_directory("vm/777/2024-01-01T00:00:00Z"));
  EXPECT_FALSE(has_directory("ns/linked"));
  auto through_link = store.snapshot_times({}, {BackupType::kVm, "777"});
  ASSERT_FALSE(through_link.ok());
  EXPECT_EQ(through_link.error().code, ELOOP);
  EXPECT_FALSE(store.group_ids({}, BackupType::kHost).ok());
  EXPECT_TRUE(has_directory("vm/100/2024-01-01T00:00:00Z"));
  EXPECT_FALSE(has_directory("../outside"));
}

TEST_F(DatastoreTest, MissingDirectoriesAreEnoent) {
  Datastore store("store1", base_);
  auto missing = store.snapshot_times({}, {BackupType::kCt, "999"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
  Datastore gone("gone1", dir_ / "nothing-here");
  EXPECT_FALSE(gone.types({}).ok());
}

}  // namespace
}  // namespace pbs

namespace pbs {
namespace {

// Without openat2 (a seccomp filter, an old kernel) the walk must refuse the same things.
TEST_F(DatastoreTest, TheWalkWithoutOpenat2RefusesSymlinksAndEscapes) {
  UniqueFd base(::open(base_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(base.valid());
  auto code = [&](const std::string& path, int flags = O_RDONLY | O_DIRECTORY) {
    auto opened = open_beneath_by_components(base.get(), path, flags);
    return opened.ok() ? 0 : opened.error().code;
  };
  EXPECT_EQ(code("vm/100/2024-01-01T00:00:00Z"), 0);
  EXPECT_EQ(code("."), 0);
  EXPECT_EQ(code("vm/100", O_PATH | O_DIRECTORY), 0);
  EXPECT_EQ(code("vm/777"), ELOOP);                       // last component a symlink
  EXPECT_EQ(code("vm/777/2024-01-01T00:00:00Z"), ELOOP);  // a symlink on the way
  EXPECT_EQ(code("ns/linked/vm"), ELOOP);
  EXPECT_EQ(code("../outside"), EXDEV);
  EXPECT_EQ(code("vm/../../outside"), EXDEV);
  EXPECT_EQ(code("/etc"), EXDEV);
  EXPECT_EQ(code("vm/999"), ENOENT);
}

}  // namespace
}  // namespace pbs
