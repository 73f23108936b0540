// The common locking tools, each run as the README shows it, against a lock held the way PBS
// holds it (flock(2) on the real lock file from another process): which mount view makes each
// behave as its users expect, and what it does on the other.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "mount_fixture.hpp"
#include "other_process.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Outcome {
  int code = -1;
  std::chrono::milliseconds took{0};
};

// Runs `command` (with NODE replaced by the node's path) through the shell.
Outcome run_tool(std::string command, const std::string& node) {
  for (auto at = command.find("NODE"); at != std::string::npos; at = command.find("NODE"))
    command.replace(at, 4, "'" + node + "'");
  auto started = Clock::now();
  int status = std::system(("exec 2>/dev/null; " + command).c_str());
  Outcome out;
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

bool installed(const char* tool) {
  return std::system(("command -v " + std::string(tool) + " >/dev/null").c_str()) == 0;
}

class ToolExamplesTest : public MountTest {
 protected:
  // A lock held as PBS holds it: flock(2) on the real lock file, by another process.
  std::unique_ptr<FlockHolder> hold_like_pbs(int operation = LOCK_EX) {
    // Creates the lock file, on either view (open_locks=no locks only on flock(2)).
    EXPECT_EQ(child_errno([&] {
                int fd = open(node(kSnap1).c_str(), O_RDONLY);
                return fd >= 0 && flock(fd, LOCK_SH) == 0 ? 0 : errno;
              }),
              0);
    EXPECT_TRUE(eventually([&] { return other_process_can_flock(lock_file(kSnap1), LOCK_EX); }));
    return std::make_unique<FlockHolder>(lock_file(kSnap1), operation);
  }
  // `command` waits while the lock is held and succeeds once it is released after 700 ms.
  void expect_waits_then_succeeds(const std::string& command) {
    auto holder = hold_like_pbs();
    std::thread release([&] {
      std::this_thread::sleep_for(700ms);
      holder->release();
    });
    Outcome out = run_tool(command, node(kSnap1));
    release.join();
    EXPECT_EQ(out.code, 0) << command;
    EXPECT_GE(out.took, 600ms) << command << " did not wait";
    EXPECT_LT(out.took, 5s) << command;
  }
  // `command` fails at once (with `code`) while the lock is held.
  void expect_fails_at_once(const std::string& command, int code) {
    auto holder = hold_like_pbs();
    Outcome out = run_tool(command, node(kSnap1));
    EXPECT_EQ(out.code, code) << command;
    EXPECT_LT(out.took, 1500ms) << command << " waited";
  }
};

// The view for tools that lock with flock(2) themselves: open_locks=no.
class FlockViewTest : public ToolExamplesTest {
 protected:
  std::vector<std::string> extra_options() const override { return {"open_locks=no"}; }
};

TEST_F(FlockViewTest, FlockCommand) {
  expect_fails_at_once("flock -n NODE true", 1);
  expect_fails_at_once("flock -w 0.5 NODE true", 1);
  expect_waits_then_succeeds("flock NODE true");
  expect_waits_then_succeeds("flock -s NODE true");
  EXPECT_EQ(run_tool("flock -n NODE true", node(kSnap1)).code, 0);
}

TEST_F(FlockViewTest, DaemontoolsSetlock) {
  if (!installed("setlock")) GTEST_SKIP() << "daemontools not installed";
  expect_fails_at_once("setlock -n NODE true", 111);
  expect_waits_then_succeeds("setlock NODE true");
}

TEST_F(FlockViewTest, RunitChpst) {
  if (!installed("chpst")) GTEST_SKIP() << "runit not installed";
  expect_fails_at_once("chpst -L NODE true", 111);
  expect_waits_then_succeeds("chpst -l NODE true");
}

TEST_F(FlockViewTest, PythonAndPerlFlock) {
  const std::string python =
      "python3 -c 'import fcntl,sys; f=open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX%s)' NODE";
  char nonblocking[256], blocking[256];
  std::snprintf(nonblocking, sizeof nonblocking, python.c_str(), "|fcntl.LOCK_NB");
  std::snprintf(blocking, sizeof blocking, python.c_str(), "");
  expect_fails_at_once(nonblocking, 1);
  expect_waits_then_succeeds(blocking);
  const std::string perl =
      "perl -e 'use Fcntl qw(:flock); open(my $f, \"<\", $ARGV[0]) or die; "
      "flock($f, LOCK_EX%s) or exit 1' NODE";
  std::snprintf(nonblocking, sizeof nonblocking, perl.c_str(), "|LOCK_NB");
  std::snprintf(blocking, sizeof blocking, perl.c_str(), "");
  expect_fails_at_once(nonblocking, 1);
  expect_waits_then_succeeds(blocking);
}

// lckdo (moreutils) and Python's fcntl.lockf take POSIX record locks, which PBS does not use: the
// mount refuses them (ENOLCK) on every view rather than grant a lock that excludes nobody.
TEST_F(FlockViewTest, PosixLockToolsAreRefused) {
  if (installed("lckdo")) {
    EXPECT_EQ(run_tool("lckdo NODE true", node(kSnap1)).code,
              71);  // EX_OSERR, "No locks available"
  }
  EXPECT_EQ(run_tool("python3 -c 'import fcntl,sys; fcntl.lockf(open(sys.argv[1], \"w\"), "
                     "fcntl.LOCK_EX)' NODE",
                     node(kSnap1))
                .code,
            1);
}

// The default view locks at open: the shell's `exec 9>NODE` and plain opens are the tools there.
// Tools that open with O_NDELAY and then wait in flock(2) fail at once on it instead.
using OpenViewTest = ToolExamplesTest;

TEST_F(OpenViewTest, ShellRedirectionWaitsAndNonblockingOpenersFailAtOnce) {
  expect_waits_then_succeeds("exec 9>NODE");
  expect_waits_then_succeeds("exec 9<NODE");
  if (installed("setlock")) expect_fails_at_once("setlock NODE true", 111);
  if (installed("chpst")) expect_fails_at_once("chpst -l NODE true", 111);
}

}  // namespace
}  // namespace pbs::test
