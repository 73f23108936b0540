// MountTest: a generated datastore, a scratch lock root and the real daemon mounted over them.
// Every test checks at the end that the datastore is byte-for-byte unchanged.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lock_object.hpp"
#include "mounted_daemon.hpp"
#include "temp_dir.hpp"

namespace pbs::test {

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  /// Options besides store=, lock_root= and old_locking_marker=.
  virtual std::vector<std::string> extra_options() const { return {}; }

  /// A path in the mount below store1: node("vm/100/2024-01-01T00:00:00Z").
  std::string node(const std::string& relative) const { return mnt_ + "/store1/" + relative; }
  /// The real lock file of `object` (TYPE/ID[/TIME]) in store1.
  std::string lock_file(const std::string& object, const std::string& ns = "",
                        bool manifest = false) const;

  TempDir dir_;
  std::string datastore_, locks_, mnt_, marker_;
  std::unique_ptr<MountedDaemon> daemon_;
  std::string fingerprint_;

  static constexpr const char* kSnap1 = "vm/100/2024-01-01T00:00:00Z";
  static constexpr const char* kSnap2 = "vm/100/2024-01-02T00:00:00Z";
};

/// Everything about a tree (names, types, modes, owners, sizes, mtimes, contents), for
/// detecting any change; symlinks are recorded, never followed.
std::string tree_fingerprint(const std::string& root);

/// Runs `op` in a forked child (as `uid`, with no supplementary groups, when not 0) and returns
/// the errno it returns (0: success; -1 when the child could not become `uid`).
int child_errno(const std::function<int()>& op, uid_t uid = 0);
/// From a forked child (optionally as `uid`): open(path, flags) and return its errno (0: success).
int child_open_errno(const std::string& path, int flags, uid_t uid = 0);

/// A child process holding a node open (taking its lock through the mount) until released.
class NodeHolder {
 public:
  NodeHolder(const std::string& path, int flags);
  ~NodeHolder();
  NodeHolder(const NodeHolder&) = delete;
  NodeHolder& operator=(const NodeHolder&) = delete;
  /// errno of the child's open (0 when it holds the node).
  int error() const { return error_; }
  pid_t pid() const { return pid_; }
  void release();
  void kill_hard();

 private:
  pid_t pid_ = -1;
  int release_pipe_ = -1;
  int error_ = 0;
};

}  // namespace pbs::test
