// `pbs-lockctl path` agrees byte for byte with PBS's vectors; bad input exits 2 with one line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "other_process.hpp"

namespace {

using pbs::test::CommandOutput;
using pbs::test::run_command;

struct Output {
  int exit_code = -1;
  std::string out;
};

std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Output run(const std::vector<std::string>& args, bool capture_stderr = false) {
  std::string command = quote(PBS_LOCKCTL);
  for (const auto& a : args)
    command += " " + quote(a);
  command += capture_stderr ? " 2>&1 >/dev/null" : " 2>/dev/null";
  CommandOutput ran = run_command(command);
  return {ran.code, ran.out};
}

constexpr const char* kRoot = "/run/proxmox-backup/locks/store1/";

TEST(LockctlPath, EveryFullPathVector) {
  struct Case {
    std::vector<std::string> args;
    std::string below_store;
  } cases[] = {
      {{"store1", "vm/100"}, "vm-100"},
      {{"store1", "vm/100/2022-05-02T08:11:33Z"}, "vm-100-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z"},
      {{"store1", "vm/100/2022-05-02T08:11:33Z", "--manifest"},
       "vm-100-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z-.index.json.lck"},
      {{"--ns", "a/b", "store1", "vm/100"}, "a:b/vm-100"},
      {{"--ns", "prod", "store1", "ct/1-2/2024-01-01T00:00:00Z"},
       "prod/ct-1\\x2d2-2024\\x2d01\\x2d01T00\\x3a00\\x3a00Z"},
      {{"--ns=prod/site-a", "store1", "host/my.host/2025-03-26T11:44:12Z", "--manifest"},
       "prod:site-a/host-my.host-2025\\x2d03\\x2d26T11\\x3a44\\x3a12Z-.index.json.lck"},
      {{"store1", "host/" + std::string(249, 'a')}, "host-" + std::string(249, 'a')},
      {{"store1", "host/" + std::string(250, 'a')},
       "hashed/host-" + std::string(75, 'a') + "..." + std::string(80, 'a') +
           "-e11a509a0df911507aadc4d261403a060dd4427c15b9dc37bb831d71b45fcb3b"},
      {{"store1", "host/" + std::string(217, 'b') + "/2022-05-02T08:11:33Z"},
       "hashed/host-" + std::string(75, 'b') + "..." + std::string(47, 'b') +
           "-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z-"
           "5560b4956c03671355d245b9821df9f37b21fe8c4eade6857869cddb1fcd2054"},
  };
  for (auto& c : cases) {
    std::vector<std::string> args{"path"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto result = run(args);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.out, kRoot + c.below_store + "\n");
  }
}

// A lock root given that does not exist, or is not one, is refused (it once printed an empty
// table, exit 0: a typo looked like "nothing is locked"); nothing is created.
TEST(LockctlList, ALockRootThatIsMissingOrIsNotOneIsRefused) {
  char dir[] = "/tmp/pbs-lockctl-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string root = std::string(dir) + "/locks";
  auto missing = run({"list", "--lock-root", root}, true);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.out.find(root + ": No such file or directory"), std::string::npos)
      << missing.out;
  EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1);
  EXPECT_NE(access(root.c_str(), F_OK), 0);
  EXPECT_EQ(run({"list", "--lock-root", "/etc", "--json"}).out, "");
  auto etc = run({"list", "--lock-root", "/etc", "--json"}, true);
  EXPECT_EQ(etc.exit_code, 2);
  EXPECT_NE(etc.out.find("/etc is not a PBS lock root (owned by uid 0"), std::string::npos)
      << etc.out;
  rmdir(dir);
}

// The default lock root is missing when PBS took no lock since boot: nothing is locked.
TEST(LockctlList, AMissingDefaultLockRootIsAnEmptyList) {
  if (access("/run/proxmox-backup/locks", F_OK) == 0) GTEST_SKIP() << "PBS has a lock root here";
  auto json = run({"list", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(json.out, "{\"locks\": []}\n");
  auto note = run({"list", "--json"}, true);
  EXPECT_NE(note.out.find("PBS has taken no lock since boot"), std::string::npos) << note.out;
}

TEST(LockctlPath, LockRootOption) {
  auto result = run({"path", "--lock-root", "/tmp/locks/", "store1", "vm/100"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "/tmp/locks/store1/vm-100\n");
}

TEST(LockctlPath, InvalidInputIsOneLineOnStderrAndExit2) {
  std::vector<std::vector<std::string>> bad = {
      {"path"},
      {"path", "store1"},
      {"path", "st", "vm/100"},
      {"path", "store1", "qemu/100"},
      {"path", "store1", "vm/100/yesterday"},
      {"path", "store1", "vm/../../etc"},
      {"path", "--ns", "a/b/c/d/e/f/g/h", "store1", "vm/100"},
      // PBS refuses these namespaces (BackupNamespace::new: an empty component).
      {"path", "--ns", "/a", "store1", "vm/100"},
      {"path", "--ns", "a/", "store1", "vm/100"},
      {"path", "--ns", "/a/b/", "store1", "vm/100"},
      {"list", "--ns", "/a"},
      {"path", "store1", "vm/100", "--manifest"},
      {"path", "--lock-root", "relative", "store1", "vm/100"},
      {"path", "--bogus", "store1", "vm/100"},
      {"path", "--ns"},
      {"frobnicate"},
      {"list", "--bogus"},
      {"list", "--ns", "a/b/c/d/e/f/g/h"},
      {"list", "--store", "x"},
      {"list", "--lock-root"},
  };
  for (const auto& args : bad) {
    EXPECT_EQ(run(args).exit_code, 2) << args.back();
    auto err = run(args, true).out;
    EXPECT_EQ(err.rfind("pbs-lockctl: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
}

}  // namespace
