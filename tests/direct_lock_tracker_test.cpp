// The live model of direct lock holders: what changed between two looks at /proc/locks, and
// which closes were refused attempts. Simulated time and /proc/locks lines: no real locks.
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include "direct_lock_tracker.hpp"

namespace pbs {
namespace {

using Kind = DirectLockTracker::Change::Kind;
using std::chrono::milliseconds;

constexpr pid_t kSelf = 100;
const std::string kFile = "store1/vm-100";
const std::pair<dev_t, ino_t> kIdentity{makedev(0, 42), 7};

ProcLock lock_by(pid_t pid, bool exclusive, bool waiting = false) {
  return {exclusive, waiting, pid, kIdentity.first, kIdentity.second};
}

class TrackerTest : public ::testing::Test {
 protected:
  DirectLockTracker::Update look(const std::vector<ProcLock>& locks, OwnLockOpens::Counts own = {},
                                 const std::vector<LockMode>& mount = {}) {
    return tracker_.update(kFile, kIdentity, locks, kSelf, own, mount, now_);
  }
  void event(DirectLockTracker::Activity what) { tracker_.activity(kFile, what, now_); }

  DirectLockTracker tracker_;
  DirectLockTracker::Clock::time_point now_{milliseconds(1000)};
};

TEST_F(TrackerTest, ReChecksAfterActivityAtFixedStepsThenForgetsAQuietFile) {
  event(DirectLockTracker::Activity::kOpened);
  std::vector<long> due_after;
  for (int ms = 0; ms <= 300; ++ms) {
    auto at = now_ + milliseconds(ms);
    if (!tracker_.due(at).empty()) {
      due_after.push_back(ms);
      tracker_.update(kFile, kIdentity, {}, kSelf, {}, {}, at);
    }
  }
  EXPECT_EQ(due_after, (std::vector<long>{3, 10, 20, 35, 100, 250}));
  EXPECT_EQ(tracker_.tracked(), 0u);
  EXPECT_EQ(tracker_.next_due(), DirectLockTracker::Clock::time_point::max());
}

TEST_F(TrackerTest, AHoldStartsAndEndsAndOurOwnLocksAreNotDirect) {
  event(DirectLockTracker::Activity::kOpened);
  auto update = look({lock_by(kSelf, true), lock_by(200, true)});
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_EQ(update.changes[0].kind, Kind::kHoldStarted);
  EXPECT_EQ(update.changes[0].pid, 200);
  EXPECT_EQ(update.changes[0].mode, LockMode::kExclusive);
  EXPECT_TRUE(update.state_changed);
  EXPECT_FALSE(look({lock_by(200, true)}).state_changed);  // nothing new
  event(DirectLockTracker::Activity::kClosed);
  update = look({});
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_EQ(update.changes[0].kind, Kind::kHoldEnded);
  EXPECT_TRUE(update.state_changed);
}

TEST_F(TrackerTest, AWaiterThatGetsTheLockEndsItsWaitGranted) {
  look({lock_by(200, true), lock_by(300, false, true)});
  auto update = look({lock_by(300, false)});
  ASSERT_EQ(update.changes.size(), 3u);
  EXPECT_EQ(update.changes[0].kind, Kind::kHoldEnded);
  EXPECT_EQ(update.changes[1].kind, Kind::kWaitEnded);
  EXPECT_TRUE(update.changes[1].granted);
  EXPECT_EQ(update.changes[2].kind, Kind::kHoldStarted);
  EXPECT_EQ(update.changes[2].pid, 300);
}

TEST_F(TrackerTest, ACloseThatEndedNothingWhileHeldIsARefusedAttempt) {
  look({lock_by(200, true)});
  event(DirectLockTracker::Activity::kOpened);
  event(DirectLockTracker::Activity::kClosed);
  auto update = look({lock_by(200, true)});
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_EQ(update.changes[0].kind, Kind::kRefused);
  EXPECT_EQ(update.changes[0].pid, 0);
  EXPECT_FALSE(update.changes[0].uncertain);  // the holder was exclusive
  EXPECT_FALSE(update.state_changed);
  EXPECT_TRUE(look({lock_by(200, true)}).changes.empty());  // counted once
}

TEST_F(TrackerTest, ARefusalUnderSharedHoldersIsMarkedUncertain) {
  look({lock_by(200, false)});
  event(DirectLockTracker::Activity::kClosed);
  auto update = look({lock_by(200, false)});
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_TRUE(update.changes[0].uncertain);
}

TEST_F(TrackerTest, AMountHoldMakesACloseARefusal) {
  event(DirectLockTracker::Activity::kClosed);
  auto update = look({}, {}, {LockMode::kExclusive});
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_EQ(update.changes[0].kind, Kind::kRefused);
}

TEST_F(TrackerTest, ARefusalJustBeforeTheMountLetGoIsStillARefusal) {
  tracker_.activity(kFile, DirectLockTracker::Activity::kClosed, now_, true);
  auto update = look({});  // by the first look the mount's hold is gone
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_EQ(update.changes[0].kind, Kind::kRefused);
}

TEST_F(TrackerTest, ACloseOfAFreeFileIsNothing) {
  event(DirectLockTracker::Activity::kClosed);
  EXPECT_TRUE(look({}).changes.empty());
}

TEST_F(TrackerTest, OurOwnClosesAreNeverRefusalsWhicheverComesFirst) {
  look({}, {}, {LockMode::kExclusive});
  // Reported before we counted it:
  event(DirectLockTracker::Activity::kClosed);
  EXPECT_TRUE(look({}, {0, 1}, {LockMode::kExclusive}).changes.empty());
  // Counted before inotify reported it, with the file quiet for a long time in between:
  EXPECT_TRUE(look({}, {0, 1}, {LockMode::kExclusive}).changes.empty());
  now_ += milliseconds(1000);
  EXPECT_TRUE(look({}, {}, {LockMode::kExclusive}).changes.empty());
  event(DirectLockTracker::Activity::kClosed);
  EXPECT_TRUE(look({}, {}, {LockMode::kExclusive}).changes.empty());
  // And a stranger's close after that is a refusal again.
  event(DirectLockTracker::Activity::kClosed);
  EXPECT_EQ(look({}, {}, {LockMode::kExclusive}).changes.size(), 1u);
}

TEST_F(TrackerTest, AnOwnCloseWhoseEventNeverCameIsForgottenAfterAWhile) {
  look({}, {0, 1}, {LockMode::kExclusive});
  EXPECT_EQ(tracker_.tracked(), 1u);
  tracker_.forget_debts(now_ + milliseconds(3000), std::chrono::seconds(2));
  EXPECT_EQ(tracker_.tracked(), 0u);
  event(DirectLockTracker::Activity::kClosed);
  EXPECT_EQ(look({}, {}, {LockMode::kExclusive}).changes.size(), 1u);
}

TEST_F(TrackerTest, AStrangersOpenAndCloseIsActivityEvenWhenNoHoldWasSeenAndOursIsNot) {
  // A hold shorter than the first re-check: never seen here, but a stat may have seen it.
  event(DirectLockTracker::Activity::kOpened);
  event(DirectLockTracker::Activity::kClosed);
  auto update = look({});
  EXPECT_TRUE(update.foreign_activity);
  EXPECT_FALSE(update.state_changed);
  EXPECT_FALSE(look({}).foreign_activity);  // reported once
  event(DirectLockTracker::Activity::kOpened);
  event(DirectLockTracker::Activity::kClosed);
  EXPECT_FALSE(look({}, {1, 1}).foreign_activity);  // our own open and close
}

TEST_F(TrackerTest, AFileReplacedAtItsPathHasNewHolders) {
  look({lock_by(200, true)});
  const std::pair<dev_t, ino_t> other{kIdentity.first, 8};
  auto update = tracker_.update(kFile, other, {{true, false, 300, other.first, other.second}},
                                kSelf, {}, {}, now_);
  EXPECT_TRUE(update.state_changed);
  ASSERT_EQ(update.changes.size(), 1u);
  EXPECT_EQ(update.changes[0].pid, 300);
}

}  // namespace
}  // namespace pbs
