// PBS's destroy protocol for lock files: removed while held, EBUSY while somebody else holds.
#include <sys/file.h>

#include <filesystem>

#include "lock_fixture.hpp"
#include "lock_removal.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

class LockRemovalTest : public LockTreeTest {
 protected:
  std::vector<LockRequest> snapshot_requests() const {
    return snapshot_removal(request(kSnapshot, LockMode::kExclusive).object, datastore_path_);
  }
  std::string snapshot_file() const { return path_of(request(kSnapshot, LockMode::kExclusive)); }
  std::string manifest_file() const {
    return path_of(request(kSnapshot, LockMode::kExclusive, "", true));
  }
  void create_both() {
    ASSERT_TRUE(try_lock(*root_, request(kSnapshot, LockMode::kShared)).ok());
    ASSERT_TRUE(try_lock(*root_, request(kSnapshot, LockMode::kShared, "", true)).ok());
  }
  static constexpr const char* kSnapshot = "vm/100/2024-01-01T00:00:00Z";
};

TEST_F(LockRemovalTest, RemovesSnapshotAndManifestLockFilesButNoDirectory) {
  create_both();
  ASSERT_TRUE(remove_lock_files(*root_, snapshot_requests()).ok());
  EXPECT_FALSE(std::filesystem::exists(snapshot_file()));
  EXPECT_FALSE(std::filesystem::exists(manifest_file()));
  EXPECT_TRUE(std::filesystem::is_directory(root_path_ + "/store1"));
}

TEST_F(LockRemovalTest, BusyWhileAnotherProcessHoldsTheSnapshotOrTheManifest) {
  create_both();
  for (const auto& file : {snapshot_file(), manifest_file()}) {
    FlockHolder holder(file, LOCK_SH);
    auto result = remove_lock_files(*root_, snapshot_requests());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, EBUSY);
    EXPECT_TRUE(std::filesystem::exists(snapshot_file()));
    EXPECT_TRUE(std::filesystem::exists(manifest_file()));
  }
}

TEST_F(LockRemovalTest, UnderTheCallersOwnExclusiveHold) {
  create_both();
  auto held = try_lock(*root_, request(kSnapshot, LockMode::kExclusive));
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(remove_lock_files(*root_, snapshot_requests(), &held.value()).ok());
  EXPECT_FALSE(std::filesystem::exists(snapshot_file()));
  EXPECT_FALSE(std::filesystem::exists(manifest_file()));
  EXPECT_TRUE(held->held());  // still held, on the unlinked file, until released
}

TEST_F(LockRemovalTest, ASharedHoldIsNotEnough) {
  create_both();
  auto held = try_lock(*root_, request(kSnapshot, LockMode::kShared));
  ASSERT_TRUE(held.ok());
  auto result = remove_lock_files(*root_, snapshot_requests(), &held.value());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, EBUSY);
  EXPECT_TRUE(std::filesystem::exists(snapshot_file()));
}

TEST_F(LockRemovalTest, MissingFilesAreNotCreated) {
  ASSERT_TRUE(remove_lock_files(*root_, snapshot_requests()).ok());
  EXPECT_TRUE(std::filesystem::is_empty(root_path_));
}

}  // namespace
}  // namespace pbs::test
