// UPIDs of running PBS tasks, and which lock objects they concern.
#include <gtest/gtest.h>

#include "pbs_tasks.hpp"
#include "temp_dir.hpp"

namespace pbs {
namespace {

LockObject object(const std::string& text, const std::string& ns = "") {
  return *LockObject::parse("store1", *Namespace::parse(ns), text, false);
}

TEST(PbsTasks, ParsesUpids) {
  auto task = parse_upid(
      "UPID:pbs1:000004D2:0001E240:00000001:6745A2B0:backup:store1\\x3avm-100:root@pam:\n");
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->pid, 0x4d2);
  EXPECT_EQ(task->type, "backup");
  EXPECT_EQ(task->worker_id, "store1:vm/100");
  EXPECT_EQ(task->upid,
            "UPID:pbs1:000004D2:0001E240:00000001:6745A2B0:backup:store1\\x3avm-100:root@pam:");
  for (auto bad : {"", "UPID:x", "NOTUPID:pbs1:000004D2:0:0:0:backup:w:root@pam:",
                   "UPID:pbs1:zz:0:0:0:backup:w:root@pam:"}) {
    EXPECT_FALSE(parse_upid(bad).has_value()) << bad;
  }
}

TEST(PbsTasks, MatchesStoreAndGroup) {
  PbsTask task;
  task.worker_id = "store1:vm/100";
  EXPECT_TRUE(task_concerns(task, object("vm/100")));
  EXPECT_TRUE(task_concerns(task, object("vm/100/2024-01-01T00:00:00Z")));
  EXPECT_FALSE(task_concerns(task, object("vm/1000")));
  EXPECT_FALSE(task_concerns(task, object("vm/10")));
  EXPECT_FALSE(task_concerns(task, object("ct/100")));
  task.worker_id = "store2:vm/100";
  EXPECT_FALSE(task_concerns(task, object("vm/100")));
  task.worker_id = "store1:prod:vm/100/2024-01-01T00:00:00Z";
  EXPECT_TRUE(task_concerns(task, object("vm/100", "prod")));
}

TEST(PbsTasks, ReadsTheActiveFileAndToleratesItsAbsence) {
  test::TempDir dir;
  test::write_file(
      dir / "active",
      "UPID:pbs1:000004D2:0001E240:00000001:6745A2B0:backup:store1\\x3avm-100:root@pam:\n"
      "garbage\n"
      "UPID:pbs1:000004D3:0001E240:00000002:6745A2B0:reader:store1\\x3act-7:root@pam:\n");
  auto tasks = read_active_tasks(dir / "active");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].type, "reader");
  EXPECT_TRUE(read_active_tasks(dir / "missing").empty());
}

}  // namespace
}  // namespace pbs
