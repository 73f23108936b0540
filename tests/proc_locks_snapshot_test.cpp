// ProcLocksSnapshot, the shared copy of /proc/locks that `stat` and `ls -l` read: when a copy
// is too old to be asked about a file. A copy is put in place with replace(), as the lock tree
// monitor does, so that what it says is known; the system's real /proc/locks has no lock on the
// test's files, so a copy read again shows no holder.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "lock_state.hpp"
#include "temp_dir.hpp"

namespace pbs::test {
namespace {

using fs::ProcLocksSnapshot;

class ProcLocksSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_ / "lock-file");
    ASSERT_EQ(stat((dir_ / "lock-file").c_str(), &file_), 0);
  }

  /// Installs a copy that names `pid` as the exclusive holder of the file, read at `read_at`.
  void install_copy_naming(pid_t pid, const struct timespec& read_at) {
    ProcLock lock;
    lock.exclusive = true;
    lock.pid = pid;
    lock.device = file_.st_dev;
    lock.inode = file_.st_ino;
    ProcLocksSnapshot::ReadStart start;
    // Young for the whole test, however slow the machine: only what the test varies matters.
    start.steady = std::chrono::steady_clock::now() + std::chrono::hours(1);
    start.coarse_real = read_at;
    snapshot_.replace(std::make_shared<const std::vector<ProcLock>>(1, lock), 0, start);
  }

  bool names_a_holder(const std::vector<ProcLock>& locks) const {
    return std::any_of(locks.begin(), locks.end(), [&](const ProcLock& l) {
      return l.device == file_.st_dev && l.inode == file_.st_ino;
    });
  }

  static struct timespec shifted(struct timespec t, time_t seconds) {
    t.tv_sec += seconds;
    return t;
  }

  TempDir dir_;
  struct stat file_ {};
  ProcLocksSnapshot snapshot_;
};

TEST_F(ProcLocksSnapshotTest, ACopyReadBeforeTheFileExistedIsReadAgain) {
  // The copy's lock was on a removed file whose inode number the new file got.
  install_copy_naming(getppid(), shifted(file_.st_ctim, -1));
  EXPECT_FALSE(names_a_holder(*snapshot_.current_for(file_, false)));
}

TEST_F(ProcLocksSnapshotTest, ACopyReadAfterTheFileWithALiveHolderIsUsedAsItIs) {
  // Without this, the test above would pass with a snapshot that always reads again.
  install_copy_naming(getppid(), shifted(file_.st_ctim, 1));
  EXPECT_TRUE(names_a_holder(*snapshot_.current_for(file_, false)));
  EXPECT_FALSE(names_a_holder(*snapshot_.current_for(file_, true))) << "fresh reads always";
}

TEST_F(ProcLocksSnapshotTest, ACopyNamingAnExitedHolderIsReadAgain) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // reaped: the pid is gone
  install_copy_naming(child, shifted(file_.st_ctim, 1));
  EXPECT_FALSE(names_a_holder(*snapshot_.current_for(file_, false)));
}

}  // namespace
}  // namespace pbs::test
