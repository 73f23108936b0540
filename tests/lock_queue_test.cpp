// The wait algorithm (core/lock_queue) on its own: no FUSE, no threads, no root. Time is passed
// in, so backoff, deadlines and timer counts are checked exactly; holders are other open file
// descriptions of this process (flock(2) locks conflict between descriptions, not processes).
// CTest runs this binary a second time as nobody (lock-queue-tests-unprivileged).
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "lock_file_watch.hpp"
#include "lock_queue.hpp"
#include "temp_dir.hpp"

namespace pbs::test {
namespace {

using namespace std::chrono_literals;
using Clock = LockQueue::Clock;
using HeadCheck = LockQueue::HeadCheck;

class LockQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Lock files owned by whoever runs the test: no chown, so no root needed.
    auto root = LockRoot::open(dir_ / "locks", Owner{getuid(), getgid()}, dir_ / "old-locking");
    ASSERT_TRUE(root.ok()) << root.error().message;
    root_.emplace(std::move(root.value()));
    auto watch = LockFileWatch::create();
    ASSERT_TRUE(watch.ok());
    watch_.emplace(std::move(watch.value()));
    queue_.emplace(*root_, &*watch_);
  }

  LockRequest request(const std::string& id, LockMode mode, bool create = true) const {
    auto object = LockObject::parse("store1", Namespace{}, "vm/" + id, false);
    EXPECT_TRUE(object.ok());
    return LockRequest{*object, mode, "", create};
  }
  static std::string key_of(const LockRequest& r) { return r.object.lock_path().relative(); }
  /// A holder that is not in the queue (PBS, flock(1)): another open of the lock file.
  Lock hold(const std::string& id, LockMode mode) {
    auto lock = try_lock(*root_, request(id, mode));
    EXPECT_TRUE(lock.ok());
    return lock.ok() ? std::move(lock.value()) : Lock{};
  }
  void add(LockQueue::WaiterId id, const std::string& object, LockMode mode,
           Clock::time_point deadline = Clock::time_point::max()) {
    auto r = request(object, mode);
    queue_->add(id, key_of(r), r, deadline);
  }
  static std::vector<LockQueue::WaiterId> ids(const std::vector<LockQueue::Outcome>& outcomes) {
    std::vector<LockQueue::WaiterId> out;
    for (const auto& o : outcomes)
      out.push_back(o.id);
    return out;
  }

  TempDir dir_;
  std::optional<LockRoot> root_;
  std::optional<LockFileWatch> watch_;
  std::optional<LockQueue> queue_;
  const Clock::time_point t0_ = Clock::now();
};

TEST_F(LockQueueTest, AFreeLockIsGrantedAtTheFirstPoll) {
  add(1, "100", LockMode::kExclusive);
  auto ended = queue_->poll(t0_);
  ASSERT_EQ(ids(ended), std::vector<LockQueue::WaiterId>{1});
  EXPECT_EQ(ended[0].error, 0);
  EXPECT_TRUE(ended[0].lock.held());
  EXPECT_EQ(ended[0].lock.mode(), LockMode::kExclusive);
  // The queue holds nothing for a lock nobody waits for.
  EXPECT_EQ(queue_->size(), 0u);
  EXPECT_EQ(queue_->timers(), 0u);
  EXPECT_EQ(queue_->watched(), 0u);
  EXPECT_EQ(queue_->next_due(), Clock::time_point::max());
}

TEST_F(LockQueueTest, WaitersAreGrantedInOrderAndConsecutiveSharedOnesTogether) {
  Lock holder = hold("100", LockMode::kExclusive);
  add(1, "100", LockMode::kShared);
  add(2, "100", LockMode::kShared);
  add(3, "100", LockMode::kExclusive);
  add(4, "100", LockMode::kShared);
  EXPECT_TRUE(queue_->poll(t0_).empty());
  EXPECT_EQ(queue_->waiters(key_of(request("100", LockMode::kShared))), 4u);

  holder.release();
  queue_->touch(key_of(request("100", LockMode::kShared)));
  auto first = queue_->poll(t0_);
  ASSERT_EQ(ids(first), (std::vector<LockQueue::WaiterId>{1, 2}));
  // 4 is shared too, but behind the exclusive 3: first come, first served.
  queue_->touch(key_of(request("100", LockMode::kShared)));
  EXPECT_TRUE(queue_->poll(t0_).empty());

  for (auto& o : first)
    o.lock.release();
  queue_->touch(key_of(request("100", LockMode::kShared)));
  auto second = queue_->poll(t0_);
  ASSERT_EQ(ids(second), std::vector<LockQueue::WaiterId>{3});
  EXPECT_EQ(second[0].lock.mode(), LockMode::kExclusive);
  second[0].lock.release();
  queue_->touch(key_of(request("100", LockMode::kShared)));
  EXPECT_EQ(ids(queue_->poll(t0_)), std::vector<LockQueue::WaiterId>{4});
}

TEST_F(LockQueueTest, AnExclusiveHeadKeepsLaterSharedWaitersBehindASharedHolder) {
  Lock holder = hold("100", LockMode::kShared);
  add(1, "100", LockMode::kExclusive);
  add(2, "100", LockMode::kShared);
  EXPECT_TRUE(queue_->poll(t0_).empty());
  // The exclusive head gives up: the shared waiter behind it joins the shared holder.
  EXPECT_TRUE(queue_->remove(1));
  EXPECT_FALSE(queue_->remove(1));
  auto ended = queue_->poll(t0_);
  ASSERT_EQ(ids(ended), std::vector<LockQueue::WaiterId>{2});
  EXPECT_EQ(ended[0].lock.mode(), LockMode::kShared);
}

TEST_F(LockQueueTest, TheBackoffDoublesFromOneToAHundredMilliseconds) {
  Lock holder = hold("100", LockMode::kExclusive);
  add(1, "100", LockMode::kExclusive);
  auto now = t0_;
  std::vector<long> pauses;
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(queue_->poll(now).empty());
    auto due = queue_->next_due();
    pauses.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count());
    now = due;
  }
  EXPECT_EQ(pauses, (std::vector<long>{1, 2, 4, 8, 16, 32, 64, 100, 100, 100}));
  // Somebody let go: back to 1 ms.
  queue_->touch(key_of(request("100", LockMode::kShared)));
  EXPECT_EQ(queue_->next_due(), Clock::time_point::min());
  EXPECT_TRUE(queue_->poll(now).empty());
  EXPECT_EQ(queue_->next_due(), now + 1ms);
  // A poll before the due time tries nothing (and answers nothing): the holder let go, but
  // the queue only learns it from a touch, an inotify event or its timer.
  holder.release();
  EXPECT_TRUE(queue_->poll(now).empty());
  EXPECT_EQ(ids(queue_->poll(now + 1ms)), std::vector<LockQueue::WaiterId>{1});
}

TEST_F(LockQueueTest, ADeadlineEndsTheWaitWithEtimedoutAndLeavesTheLockAlone) {
  Lock holder = hold("100", LockMode::kExclusive);
  add(1, "100", LockMode::kShared, t0_ + 50ms);
  add(2, "100", LockMode::kShared);
  EXPECT_TRUE(queue_->poll(t0_).empty());
  // Polled at 49 ms nothing ends; at 50 ms the first waiter does, the second waits on.
  EXPECT_TRUE(queue_->poll(t0_ + 49ms).empty());
  auto ended = queue_->poll(t0_ + 50ms);
  ASSERT_EQ(ids(ended), std::vector<LockQueue::WaiterId>{1});
  EXPECT_EQ(ended[0].error, ETIMEDOUT);
  EXPECT_FALSE(ended[0].lock.held());
  EXPECT_EQ(queue_->size(), 1u);
  // The holder still holds exclusively: a probe from another description fails.
  EXPECT_EQ(try_lock(*root_, request("100", LockMode::kShared)).error().code, EWOULDBLOCK);
}

TEST_F(LockQueueTest, ADeadlineBehindTheHeadIsMetToo) {
  Lock holder = hold("100", LockMode::kExclusive);
  add(1, "100", LockMode::kExclusive);
  add(2, "100", LockMode::kExclusive, t0_ + 30ms);
  EXPECT_TRUE(queue_->poll(t0_).empty());
  auto now = t0_;
  std::vector<LockQueue::Outcome> ended;
  while (ended.empty() && now < t0_ + 1s) {
    now = queue_->next_due();
    ended = queue_->poll(now);
  }
  ASSERT_EQ(ids(ended), std::vector<LockQueue::WaiterId>{2});
  EXPECT_EQ(ended[0].error, ETIMEDOUT);
  EXPECT_EQ(now, t0_ + 30ms);  // not a backoff step later
}

TEST_F(LockQueueTest, EachLockFileHasAtMostOneTimerHoweverLongTheWait) {
  // The daemon once pushed a timer per re-check, and its memory grew while opens waited.
  Lock a = hold("100", LockMode::kExclusive);
  Lock b = hold("101", LockMode::kExclusive);
  for (LockQueue::WaiterId id = 1; id <= 200; ++id)
    add(id, id % 2 ? "100" : "101", LockMode::kShared, t0_ + 1h + std::chrono::seconds(id));
  auto now = t0_;
  std::size_t most = 0;
  for (int i = 0; i < 5000; ++i) {
    if (i % 7 == 0) queue_->touch(key_of(request("100", LockMode::kShared)));  // inotify-like
    EXPECT_TRUE(queue_->poll(now).empty());
    most = std::max(most, queue_->timers());
    now = std::max(now, queue_->next_due());
  }
  EXPECT_GT(now - t0_, 1min);  // simulated time, with the deadlines an hour away
  EXPECT_EQ(most, 2u);
  EXPECT_EQ(queue_->watched(), 2u);
  EXPECT_EQ(queue_->size(), 200u);
}

TEST_F(LockQueueTest, AClosedLockFileIsSeenThroughInotifyWithoutATimer) {
  Lock holder = hold("100", LockMode::kExclusive);
  add(1, "100", LockMode::kExclusive);
  EXPECT_TRUE(queue_->poll(t0_).empty());
  EXPECT_EQ(queue_->watched(), 1u);
  holder.release();  // closes the holder's descriptor: IN_CLOSE on the lock file
  pollfd fd{watch_->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&fd, 1, 5000), 1);
  queue_->file_events(watch_->drain());
  // Polled at t0: no timer is due, only the event makes the queue try again.
  auto ended = queue_->poll(t0_);
  ASSERT_EQ(ids(ended), std::vector<LockQueue::WaiterId>{1});
  EXPECT_TRUE(ended[0].lock.held());
  EXPECT_EQ(queue_->watched(), 0u);
}

TEST_F(LockQueueTest, TheHeadCheckCanGrantAWaiterWithoutANewLock) {
  Lock holder = hold("100", LockMode::kExclusive);
  queue_->set_head_check(
      [](LockQueue::WaiterId id) { return id == 1 ? HeadCheck::kSatisfied : HeadCheck::kTake; });
  add(1, "100", LockMode::kExclusive);
  add(2, "100", LockMode::kExclusive);
  auto ended = queue_->poll(t0_);
  ASSERT_EQ(ids(ended), std::vector<LockQueue::WaiterId>{1});
  EXPECT_EQ(ended[0].error, 0);
  EXPECT_FALSE(ended[0].lock.held());
  EXPECT_EQ(queue_->size(), 1u);
}

TEST_F(LockQueueTest, ALockFileThatCannotBeOpenedEndsTheHeadWithItsErrno) {
  auto r = request("100", LockMode::kExclusive, /*create=*/false);
  queue_->add(1, key_of(r), r);
  add(2, "100", LockMode::kExclusive);  // creates it: granted right after
  auto ended = queue_->poll(t0_);
  ASSERT_EQ(ids(ended), (std::vector<LockQueue::WaiterId>{1, 2}));
  EXPECT_EQ(ended[0].error, ENOENT);
  EXPECT_FALSE(ended[0].message.empty());
  EXPECT_EQ(ended[1].error, 0);
}

TEST_F(LockQueueTest, ClearEndsEveryWaiterInQueueOrderAndKeepsNothing) {
  Lock holder = hold("100", LockMode::kExclusive);
  add(7, "100", LockMode::kShared);
  add(3, "100", LockMode::kShared, t0_ + 1s);
  EXPECT_TRUE(queue_->poll(t0_).empty());
  EXPECT_EQ(queue_->clear(), (std::vector<LockQueue::WaiterId>{7, 3}));
  EXPECT_EQ(queue_->size(), 0u);
  EXPECT_EQ(queue_->timers(), 0u);
  EXPECT_EQ(queue_->watched(), 0u);
  EXPECT_TRUE(queue_->poll(t0_ + 2s).empty());
}

}  // namespace
}  // namespace pbs::test
