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
  /// The daemon's program file.
  virtual std::string program() const { return PBS_LOCKFS_DAEMON; }
  /// How long the test may run before the daemon's connection is aborted (a hung test ends).
  virtual std::chrono::seconds watchdog() const { return std::chrono::seconds(90); }
  /// A second daemon on the same datastore and lock root, at `dir_/<name>` (logging to
  /// `dir_/<name>.log`), with `options` added; `environment` and `before_exec` as for
  /// MountedDaemon. The test stops it (or its destructor does).
  std::unique_ptr<MountedDaemon> mount_another(const std::string& name,
                                               std::vector<std::string> options,
                                               std::vector<std::string> environment = {},
                                               std::function<void()> before_exec = {});

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
/// The permission bits a plain stat of `path` shows (the lock state of a node); 0 when missing.
mode_t node_mode(const std::string& path);
/// From a forked child (optionally as `uid`): open(path, flags) and return its errno (0: success).
int child_open_errno(const std::string& path, int flags, uid_t uid = 0);

/// A child process that runs `setup` (an errno back: 0 when it holds what it should) and then
/// keeps everything it holds until released (killed) or destroyed. By default construction
/// returns once setup is done; with `wait` false at once (for a setup that blocks, such as an
/// open that waits for a lock), and result() tells when it is done.
class HoldingChild {
 public:
  explicit HoldingChild(const std::function<int()>& setup, bool wait = true);
  ~HoldingChild();
  HoldingChild(const HoldingChild&) = delete;
  HoldingChild& operator=(const HoldingChild&) = delete;
  /// setup's errno (0: it holds), or -1 while it has not finished.
  int error() const { return error_; }
  /// Waits up to `timeout_ms` for setup to finish; its errno, or -1 while it still runs.
  int result(int timeout_ms);
  pid_t pid() const { return pid_; }
  /// Kills the child (closing everything it held) and reaps it.
  void release();
  void kill_hard() { release(); }

 private:
  pid_t pid_ = -1;
  int report_ = -1;
  int release_pipe_ = -1;
  int error_ = -1;
};

/// A child process holding a node open (taking its lock through the mount) until released.
class NodeHolder : public HoldingChild {
 public:
  NodeHolder(const std::string& path, int flags);
};

}  // namespace pbs::test
