// The inode table: what the kernel looked up, kept compact for a group's lock nodes (their
// group's node plus kind and time) and whole for the rest. Every node found by its number is the
// node remembered, each path has one number while looked up, and forgetting drops it.
#include "inode_table.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pbs::fs {
namespace {

Node node_of(NodeKind kind, const std::string& ns, const std::string& id, std::string time = "") {
  Node node;
  node.kind = kind;
  node.store = "store1";
  node.ns = *Namespace::parse(ns);
  node.type = BackupType::kVm;
  node.id = id;
  node.time = std::move(time);
  return node;
}

void expect_same(const Node& expected, const std::optional<Node>& found) {
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->kind, expected.kind);
  EXPECT_EQ(found->store, expected.store);
  EXPECT_EQ(found->ns, expected.ns);
  EXPECT_EQ(found->group(), expected.group());
  EXPECT_EQ(found->time, expected.time);
  EXPECT_EQ(found->mount_path(), expected.mount_path());
}

TEST(InodeTable, AGroupsLockNodesAreFoundAsRememberedInEveryNamespace) {
  for (const std::string ns : {"", "a", "a/b/c"}) {
    InodeTable table;
    Node group = node_of(NodeKind::kGroup, ns, "100");
    const auto group_ino = table.remember(InodeTable::kRootInode, group);
    const Node children[] = {
        node_of(NodeKind::kSnapshot, ns, "100", "2024-01-01T00:00:00Z"),
        node_of(NodeKind::kManifest, ns, "100", "2024-01-01T00:00:00Z"),
        node_of(NodeKind::kGroupLock, ns, "100"),
    };
    std::set<std::uint64_t> numbers{group_ino};
    for (const auto& child : children) {
      auto ino = table.remember(group_ino, child);
      EXPECT_TRUE(numbers.insert(ino).second) << child.mount_path();
      expect_same(child, table.find(ino));
      EXPECT_EQ(table.remember(group_ino, child), ino) << "a second lookup, the same number";
    }
    expect_same(group, table.find(group_ino));
    EXPECT_EQ(table.size(), 5u);  // the root, the group and its three children
  }
}

TEST(InodeTable, ANodeWhoseParentIsNotItsGroupIsKeptWhole) {
  InodeTable table;
  Node other_group = node_of(NodeKind::kGroup, "", "200");
  const auto other = table.remember(InodeTable::kRootInode, other_group);
  Node snapshot = node_of(NodeKind::kSnapshot, "", "100", "2024-01-01T00:00:00Z");
  expect_same(snapshot, table.find(table.remember(other, snapshot)));
  expect_same(snapshot, table.find(table.remember(InodeTable::kRootInode, snapshot)));
}

TEST(InodeTable, ForgettingCountsLookupsAndThePathGetsANewNumberAfterwards) {
  InodeTable table;
  const auto group = table.remember(InodeTable::kRootInode, node_of(NodeKind::kGroup, "", "100"));
  Node snapshot = node_of(NodeKind::kSnapshot, "", "100", "2024-01-01T00:00:00Z");
  const auto ino = table.remember(group, snapshot);
  table.remember(group, snapshot);
  table.forget(ino, 1);
  expect_same(snapshot, table.find(ino));
  table.forget(ino, 1);
  EXPECT_FALSE(table.find(ino).has_value());
  const auto again = table.remember(group, snapshot);
  EXPECT_NE(again, ino);
  expect_same(snapshot, table.find(again));
}

TEST(InodeTable, CachedAttributesAreFoundByMountPath) {
  InodeTable table;
  const auto group = table.remember(InodeTable::kRootInode, node_of(NodeKind::kGroup, "a", "100"));
  Node manifest = node_of(NodeKind::kManifest, "a", "100", "2024-01-01T00:00:00Z");
  const auto ino = table.remember(group, manifest);
  EXPECT_FALSE(table.take_cached_attributes(manifest.mount_path()).has_value());
  table.attributes_given(ino);
  EXPECT_EQ(table.take_cached_attributes(manifest.mount_path()), ino);
  EXPECT_FALSE(table.take_cached_attributes(manifest.mount_path()).has_value()) << "taken once";
}

TEST(InodeTable, TheLeastRecentlyUsedComeWithTheirParentAndName) {
  InodeTable table;
  const auto group = table.remember(InodeTable::kRootInode, node_of(NodeKind::kGroup, "", "100"));
  table.remember(group, node_of(NodeKind::kGroupLock, "", "100"));
  table.remember(group, node_of(NodeKind::kManifest, "", "100", "2024-01-01T00:00:00Z"));
  table.remember(group, node_of(NodeKind::kSnapshot, "", "100", "2024-01-01T00:00:00Z"));
  table.remember(group, node_of(NodeKind::kSnapshot, "", "100", "2024-01-02T00:00:00Z"));
  // The root and the group are the oldest but the root never goes: down to 3 drops 3.
  auto victims = table.least_recently_used(3);
  ASSERT_EQ(victims.size(), 3u);
  std::set<std::string> names;
  for (const auto& [parent, name] : victims) {
    names.insert(name);
    EXPECT_EQ(parent, name == "100" ? InodeTable::kRootInode : group) << name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"100", ".lock", ".2024-01-01T00:00:00Z.manifest"}));
}

TEST(InodeTable, ThousandsOfSnapshotsEachHaveTheirOwnNumber) {
  InodeTable table;
  const auto group = table.remember(InodeTable::kRootInode, node_of(NodeKind::kGroup, "", "100"));
  std::set<std::uint64_t> numbers;
  for (int i = 0; i < 5000; ++i) {
    char time[32];
    std::snprintf(time, sizeof time, "2024-01-%02dT%02d:%02d:00Z", 1 + i / 1440, i / 60 % 24,
                  i % 60);
    Node snapshot = node_of(NodeKind::kSnapshot, "", "100", time);
    auto ino = table.remember(group, snapshot);
    ASSERT_TRUE(numbers.insert(ino).second) << time;
    ASSERT_EQ(table.find(ino)->time, time);
  }
}

// What another program image of the daemon needs to go on serving the same kernel: every number
// with its node and lookup count, and the next number, so that a node looked up before the switch
// is found by its number after it, forgets count down from the same lookups, and a new node gets a
// number the kernel has not seen.
TEST(InodeTable, ASavedTableRestoresEveryNumberLookupCountAndTheNextNumber) {
  InodeTable before;
  Node ns_node = node_of(NodeKind::kNamespace, "a", "");
  const auto ns_ino = before.remember(InodeTable::kRootInode, ns_node);
  Node group = node_of(NodeKind::kGroup, "a", "100");
  const auto group_ino = before.remember(ns_ino, group);
  Node snapshot = node_of(NodeKind::kSnapshot, "a", "100", "2024-01-01T00:00:00Z");
  const auto snapshot_ino = before.remember(group_ino, snapshot);
  before.remember(group_ino, snapshot);  // two lookups
  Node lock = node_of(NodeKind::kGroupLock, "a", "100");
  const auto lock_ino = before.remember(group_ino, lock);
  Node gone = node_of(NodeKind::kGroup, "a", "999");
  before.forget(before.remember(ns_ino, gone), 1);  // its number is used up, not reused

  auto saved = before.save();
  EXPECT_EQ(saved.entries.size(), 4u);
  InodeTable after;
  auto restored = after.restore(saved);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(after.size(), before.size());
  const std::vector<std::pair<std::uint64_t, Node>> kept{
      {ns_ino, ns_node}, {group_ino, group}, {snapshot_ino, snapshot}, {lock_ino, lock}};
  for (const auto& [ino, node] : kept)
    expect_same(node, after.find(ino));
  // The same path looks up to the same number; forgets count down from the saved lookups.
  EXPECT_EQ(after.remember(group_ino, snapshot), snapshot_ino);  // now 3
  after.forget(snapshot_ino, 2);
  EXPECT_TRUE(after.find(snapshot_ino).has_value());
  after.forget(snapshot_ino, 1);
  EXPECT_FALSE(after.find(snapshot_ino).has_value());
  // A new node gets the number the old table would have given.
  Node fresh = node_of(NodeKind::kGroup, "a", "300");
  EXPECT_EQ(after.remember(ns_ino, fresh), before.remember(ns_ino, fresh));
}

TEST(InodeTable, AnInconsistentSavedTableIsRefusedAndLeavesTheTableFresh) {
  InodeTable source;
  Node group = node_of(NodeKind::kGroup, "", "100");
  const auto group_ino = source.remember(InodeTable::kRootInode, group);
  source.remember(group_ino, node_of(NodeKind::kSnapshot, "", "100", "2024-01-01T00:00:00Z"));
  const auto good = source.save();
  auto refused = [](InodeTable::SavedTable saved) {
    InodeTable table;
    auto result = table.restore(saved);
    return !result && table.size() == 1;  // only the root
  };
  auto orphan = good;
  orphan.entries.erase(orphan.entries.begin());  // the snapshot without its group
  EXPECT_TRUE(refused(orphan));
  auto twice = good;
  twice.entries.push_back(twice.entries.back());
  EXPECT_TRUE(refused(twice));
  auto late = good;
  late.next = late.entries.back().ino;  // a number not below the next one
  EXPECT_TRUE(refused(late));
  auto unused = good;
  unused.entries.back().lookups = 0;
  EXPECT_TRUE(refused(unused));
  auto root = good;
  root.entries.front().ino = InodeTable::kRootInode;
  EXPECT_TRUE(refused(root));
  InodeTable in_use;
  in_use.remember(InodeTable::kRootInode, group);
  EXPECT_FALSE(in_use.restore(good));
}

}  // namespace
}  // namespace pbs::fs
