// LockTreeTest: a fixture with a scratch lock root owned by backup:backup, as PBS has it.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <optional>
#include <string>

#include "lock.hpp"
#include "lock_root.hpp"
#include "temp_dir.hpp"

namespace pbs::test {

class LockTreeTest : public ::testing::Test {
 protected:
  void SetUp() override;

  /// A request for `object` (`TYPE/ID[/TIME]`) in namespace `ns` of store1.
  LockRequest request(const std::string& object, LockMode mode, const std::string& ns = "",
                      bool manifest = false) const;
  /// The absolute lock file path of a request.
  std::string path_of(const LockRequest& request) const;

  TempDir dir_;
  Owner backup_;
  std::string root_path_;
  std::string datastore_path_;
  std::string marker_path_;
  std::optional<LockRoot> root_;
};

/// stat() that fails the test when the file is missing.
struct stat stat_of(const std::string& path);

}  // namespace pbs::test
