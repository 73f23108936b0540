// The scratch lock tree fixture.
#include "lock_fixture.hpp"

namespace pbs::test {

void LockTreeTest::SetUp() {
  auto owner = Owner::lookup("backup", "backup");
  ASSERT_TRUE(owner.ok()) << "these tests need the backup user and group";
  backup_ = *owner;
  root_path_ = dir_ / "locks";
  datastore_path_ = dir_ / "datastore";
  marker_path_ = dir_ / "old-locking";
  make_directories(datastore_path_);
  auto root = LockRoot::open(root_path_, backup_, marker_path_);
  ASSERT_TRUE(root.ok()) << root.error().message;
  root_.emplace(std::move(root.value()));
}

LockRequest LockTreeTest::request(const std::string& object, LockMode mode, const std::string& ns,
                                  bool manifest) const {
  auto parsed_ns = Namespace::parse(ns);
  EXPECT_TRUE(parsed_ns.ok());
  auto parsed = LockObject::parse("store1", *parsed_ns, object, manifest);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return LockRequest{*parsed, mode, datastore_path_, true};
}

std::string LockTreeTest::path_of(const LockRequest& request) const {
  return root_->absolute(request.object.lock_path());
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

}  // namespace pbs::test
