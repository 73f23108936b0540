// The mount's tree model (fuse/tree) on its own: no FUSE, no mount, no root. A datastore on
// disk, a lock root owned by whoever runs the test, and a fixed set of holds through the mount
// (FixedMountLocks) stand in for the daemon. CTest runs it again as nobody.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "attributes.hpp"
#include "mount_model.hpp"
#include "mount_names.hpp"
#include "node_status_text.hpp"
#include "temp_dir.hpp"

namespace pbs::test {
namespace {

using fs::MountModel;
using fs::Node;
using fs::NodeKind;
using fs::OpenHandle;

/// Holds through the mount, as a test sets them.
class FixedMountLocks : public fs::MountLocks {
 public:
  std::vector<std::shared_ptr<OpenHandle>> handles(const std::string& lock_file) const override {
    auto found = handles_.find(lock_file);
    return found == handles_.end() ? std::vector<std::shared_ptr<OpenHandle>>{} : found->second;
  }
  std::vector<LockObject> held_in(const std::string& store, const Namespace& ns,
                                  const ObjectFilter& keep) const override {
    std::vector<LockObject> out;
    for (const auto& [file, list] : handles_) {
      for (const auto& h : list) {
        if (h->holds() && h->request.object.store == store && h->request.object.ns == ns &&
            keep(h->request.object))
          out.push_back(h->request.object);
      }
    }
    return out;
  }
  std::size_t waiter_count(const std::string& lock_file) const override {
    auto found = waiters_.find(lock_file);
    return found == waiters_.end() ? 0 : found->second;
  }

  std::map<std::string, std::vector<std::shared_ptr<OpenHandle>>> handles_;
  std::map<std::string, std::size_t> waiters_;
};

class MountModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    make_directories(dir_ / "store1/vm/100/2024-01-01T00:00:00Z");
    make_directories(dir_ / "store1/ns/prod/ct/7/2024-02-02T00:00:00Z");
    model_.owner = Owner{getuid(), getgid()};
    model_.options.tasks_file = dir_ / "no-tasks";
    model_.stores = DatastoreRegistry::from_list({{"store1", dir_ / "store1"}});
    auto root = LockRoot::open(dir_ / "locks", model_.owner, dir_ / "old-locking");
    ASSERT_TRUE(root.ok()) << root.error().message;
    model_.lock_root.emplace(std::move(root.value()));
    model_.locks = &locks_;
    model_.other_mounts = std::make_unique<MountHoldersResolver>(
        std::vector<uid_t>{getuid()}, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    model_.tree = std::make_unique<fs::MountTree>(*model_.stores, *model_.lock_root, locks_);
  }

  /// The node at `path` below the mountpoint, looked up one name at a time as the kernel does.
  Node lookup(const std::string& path) {
    Node node;  // the root
    std::size_t start = 0;
    while (start < path.size()) {
      auto end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      auto child = model_.tree->child(node, path.substr(start, end - start));
      EXPECT_TRUE(child.ok()) << path;
      if (!child.ok()) return node;
      node = *child;
      start = end + 1;
    }
    return node;
  }

  /// A handle that holds `object` through the mount in `mode`, opened by this process as `uid`.
  std::shared_ptr<OpenHandle> hold(const LockObject& object, LockMode mode, uid_t uid) {
    auto handle = std::make_shared<OpenHandle>();
    handle->request = LockRequest{object, mode, "", true};
    handle->lock_file = object.lock_path().relative();
    handle->opener = fs::ProcessRef::of_thread(getpid());
    handle->uid = uid;
    auto taken = try_lock(*model_.lock_root, handle->request);
    EXPECT_TRUE(taken.ok());
    {
      MutexLock lock(handle->mutex);
      handle->take(std::move(taken.value()));
      handle->reason = "tape copy";
    }
    locks_.handles_[handle->lock_file].push_back(handle);
    return handle;
  }

  TempDir dir_;
  FixedMountLocks locks_;
  MountModel model_;
};

TEST_F(MountModelTest, EveryListedNameLooksUpToTheNodeWhosePathEndsWithIt) {
  // The names shown (children) and the names accepted (child) come from one place.
  std::vector<Node> todo{Node{}};
  std::size_t seen = 0;
  while (!todo.empty()) {
    Node dir = todo.back();
    todo.pop_back();
    auto children = model_.tree->children(dir);
    ASSERT_TRUE(children.ok());
    for (const auto& [name, child] : *children) {
      ++seen;
      std::string expected = dir.mount_path().empty() ? name : dir.mount_path() + "/" + name;
      EXPECT_EQ(child.mount_path(), expected);
      auto again = model_.tree->child(dir, name);
      ASSERT_TRUE(again.ok()) << expected;
      EXPECT_EQ(again->mount_path(), expected);
      if (child.is_lock()) {
        EXPECT_EQ(mount_path(child.lock_object()), expected);
      }
      if (child.is_directory()) todo.push_back(child);
    }
  }
  // store1, ns, prod, ct, 7, .lock, snapshot, manifest, vm, 100, .lock, snapshot, manifest, ...
  EXPECT_GE(seen, 13u);
  EXPECT_EQ(lookup("store1/ns/prod/ct/7/.2024-02-02T00:00:00Z.manifest").kind, NodeKind::kManifest);
  EXPECT_EQ(lookup("store1/vm/100/.lock").kind, NodeKind::kGroupLock);
}

TEST_F(MountModelTest, ModesShowFreeSharedAndExclusiveWithTheHoldersUid) {
  Node snapshot = lookup("store1/vm/100/2024-01-01T00:00:00Z");
  ASSERT_EQ(snapshot.kind, NodeKind::kSnapshot);
  auto st = fs::node_attributes(model_, snapshot, 42);
  EXPECT_EQ(st.st_mode, S_IFREG | 0660u);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_size, 0);

  auto shared = hold(snapshot.lock_object(), LockMode::kShared, 4242);
  st = fs::node_attributes(model_, snapshot, 42);
  EXPECT_EQ(st.st_mode, S_IFREG | 0440u);
  EXPECT_EQ(st.st_uid, 4242u);
  EXPECT_EQ(st.st_size, 1);

  locks_.handles_.clear();
  shared.reset();
  auto exclusive = hold(snapshot.lock_object(), LockMode::kExclusive, 4343);
  st = fs::node_attributes(model_, snapshot, 42);
  EXPECT_EQ(st.st_mode, S_IFREG | 0220u);
  EXPECT_EQ(st.st_uid, 4343u);
  EXPECT_EQ(fs::attribute_timeout(model_, snapshot), model_.options.attr_timeout);
}

TEST_F(MountModelTest, TheStatusTextNamesTheHolderReasonAndWaiters) {
  Node group = lookup("store1/ns/prod/ct/7/.lock");
  auto h = hold(group.lock_object(), LockMode::kExclusive, 4242);
  locks_.waiters_[h->lock_file] = 3;
  std::string text = fs::node_status_text(model_, group);
  EXPECT_NE(text.find("object: store1:prod:ct/7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("state: exclusive\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reason=\"tape copy\""), std::string::npos) << text;
  EXPECT_NE(text.find("waiters: 3\n"), std::string::npos) << text;
}

TEST_F(MountModelTest, AHeldObjectWithoutDatastoreDirectoryStillShows) {
  // A snapshot PBS has not created yet (or pruned), held through the mount: its node exists
  // while held, so that the holder can be seen and the hold released.
  auto object = LockObject::parse("store1", Namespace{}, "vm/100/2030-01-01T00:00:00Z", false);
  ASSERT_TRUE(object.ok());
  auto lookup_it = [&] {
    return model_.tree->child(lookup("store1/vm/100"), "2030-01-01T00:00:00Z");
  };
  EXPECT_FALSE(lookup_it().ok());
  auto h = hold(*object, LockMode::kShared, 4242);
  auto node = lookup_it();
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(fs::node_attributes(model_, *node, 7).st_mode, S_IFREG | 0440u);
}

}  // namespace
}  // namespace pbs::test
