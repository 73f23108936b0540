// PBS's naming rules (spec section 7).
#include <gtest/gtest.h>

#include "lock_object.hpp"
#include "mount_names.hpp"
#include "names.hpp"

namespace pbs {
namespace {

TEST(Names, StoreNames) {
  for (std::string good :
       std::vector<std::string>{"abc", "store1", "_x_", "a.b-c", std::string(32, 'z')}) {
    EXPECT_TRUE(check_store_name(good).ok()) << good;
  }
  for (std::string bad : std::vector<std::string>{"", "ab", std::string(33, 'z'), "-abc", ".abc",
                                                  "a b c", "st/re", "stö"}) {
    auto result = check_store_name(bad);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.error().code, EINVAL);
    EXPECT_NE(result.error().message.find("datastore name"), std::string::npos);
  }
}

TEST(Names, BackupTypes) {
  EXPECT_EQ(*parse_backup_type("vm"), BackupType::kVm);
  EXPECT_EQ(*parse_backup_type("ct"), BackupType::kCt);
  EXPECT_EQ(*parse_backup_type("host"), BackupType::kHost);
  for (auto bad : {"", "VM", "qemu", "hosts", "vm "})
    EXPECT_FALSE(parse_backup_type(bad).ok());
}

TEST(Names, GroupIds) {
  for (std::string good :
       std::vector<std::string>{"100", "my.host", "a_b-c", "_", std::string(1000, 'a')}) {
    EXPECT_TRUE(check_group_id(good).ok()) << good;
  }
  for (auto bad : {"", "-x", ".x", "a/b", "a b", "..", "a:b", "\x01"}) {
    EXPECT_FALSE(check_group_id(bad).ok()) << bad;
  }
}

TEST(Names, SnapshotTimes) {
  for (auto good : {"2024-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2000-02-29T12:00:00Z"}) {
    EXPECT_TRUE(check_snapshot_time(good).ok()) << good;
  }
  for (auto bad :
       {"2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-01-32T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z",
        "2024-1-01T00:00:00Z", "2024-01-01T00:00:00+00:00", "x024-01-01T00:00:00Z", ""}) {
    EXPECT_FALSE(check_snapshot_time(bad).ok()) << bad;
  }
}

TEST(Names, NamespaceDepthAndLength) {
  EXPECT_TRUE(Namespace::parse("").value().is_root());
  // PBS 4.2, pbs-api-types BackupNamespace::new: split at '/', every component a valid name.
  for (auto refused : {"/", "/a", "a/", "/a/b/", "a//b"}) {
    EXPECT_FALSE(Namespace::parse(refused).ok()) << refused;
  }
  EXPECT_EQ(Namespace::parse("a/b").value().datastore_path(), "ns/a/ns/b");
  EXPECT_TRUE(Namespace::parse("a/b/c/d/e/f/g").ok());
  auto deep = Namespace::parse("a/b/c/d/e/f/g/h");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("deeper than 7"), std::string::npos);

  EXPECT_TRUE(Namespace::parse(std::string(255, 'n')).ok());
  EXPECT_FALSE(Namespace::parse(std::string(256, 'n')).ok());
  // Joined length: 128 + 1 + 127 = 256 is fine, one more is not.
  EXPECT_TRUE(Namespace::parse(std::string(128, 'a') + "/" + std::string(127, 'b')).ok());
  EXPECT_FALSE(Namespace::parse(std::string(128, 'a') + "/" + std::string(128, 'b')).ok());
  for (auto bad : {"a//b", "a/../b", "./a", "a/-b", "a/b c"}) {
    EXPECT_FALSE(Namespace::parse(bad).ok()) << bad;
  }
}

TEST(Names, LockObjectParsing) {
  auto group = LockObject::parse("store1", {}, "vm/100", false);
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(group->kind, LockKind::kGroup);
  EXPECT_EQ(group->datastore_dir(), "vm/100");
  auto snapshot =
      LockObject::parse("store1", *Namespace::parse("a"), "ct/7/2024-01-01T00:00:00Z", false);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->datastore_dir(), "ns/a/ct/7/2024-01-01T00:00:00Z");
  EXPECT_EQ(snapshot->describe(), "store1:a:ct/7/2024-01-01T00:00:00Z");
  for (auto bad : {"vm", "vm/", "vm/100/", "qemu/100", "vm/100/yesterday",
                   "vm/100/2024-01-01T00:00:00Z/x", "vm/../etc"}) {
    EXPECT_FALSE(LockObject::parse("store1", {}, bad, false).ok()) << bad;
  }
  EXPECT_FALSE(LockObject::parse("store1", {}, "vm/100", true).ok());
  // Where the mount shows them (pbs-lockctl list reads the mount's attributes there).
  EXPECT_EQ(mount_path(*group), "store1/vm/100/.lock");
  EXPECT_EQ(mount_path(*snapshot), "store1/ns/a/ct/7/2024-01-01T00:00:00Z");
  auto manifest =
      LockObject::parse("store1", *Namespace::parse("a/b"), "ct/7/2024-01-01T00:00:00Z", true);
  EXPECT_EQ(mount_path(*manifest), "store1/ns/a/ns/b/ct/7/.2024-01-01T00:00:00Z.manifest");
  EXPECT_FALSE(LockObject::parse("s", {}, "vm/100", false).ok());
}

}  // namespace
}  // namespace pbs
