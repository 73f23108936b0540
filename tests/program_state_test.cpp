// ProgramState, what one program image hands to the next in an upgrade in place: it reads back
// exactly what was written (the former format too), and anything else (cut short at any byte,
// another format, a contradiction) is refused with a message, never a crash.
#include <gtest/gtest.h>

#include <chrono>

#include "program_state.hpp"

namespace pbs::fs {
namespace {

ProgramState sample() {
  ProgramState state;
  state.version = "0.1.0";
  state.connection_fd = 3;
  state.init_request = std::string("\x38\0\0\0\x1a\0\0\0", 8) + std::string(48, '\x01');
  state.init_reply = std::string(80, '\x02');
  Node store{NodeKind::kStore, "store1", {}, BackupType::kVm, "", ""};
  Node group{NodeKind::kGroup, "store1", *Namespace::parse("a/b"), BackupType::kCt, "200", ""};
  state.inodes.entries = {{2, 1, 3, store}, {3, 2, 1, group}};
  state.inodes.next = 4;
  SavedHandle held;
  held.fh = 1;
  held.request.object =
      LockObject::group_lock("store1", *Namespace::parse("a/b"), {BackupType::kCt, "200"});
  held.request.mode = LockMode::kExclusive;
  held.request.datastore_path = "/srv/store1";
  held.opener = 4242;
  held.opener_pidfd = 7;
  held.uid = 34;
  held.command = "proxmox-backup";
  held.lock_fd = 8;
  held.held = LockMode::kExclusive;
  held.since_ns = 1764720000123456789;
  held.reason = "prune\nwith a newline and \"quotes\"";
  state.handles = {held};
  state.next_fh = 5;
  SavedWait open;
  open.waiter.unique = 900;
  open.waiter.mode = LockMode::kShared;
  open.waiter.requester = 4300;
  open.waiter.deadline_ns = 2500000000;
  open.waiter.fi.flags = 0100000;
  open.waiter.fi.direct_io = 1;
  open.waiter.fi.noflush = 1;
  open.handle = held;
  open.handle.fh = 0;
  open.handle.lock_fd = -1;
  open.handle.opener_pidfd = 9;
  SavedWait flock_wait;
  flock_wait.waiter.unique = 902;
  flock_wait.waiter.is_open = false;
  flock_wait.waiter.mode = LockMode::kExclusive;
  flock_wait.waiter.fh = 1;
  state.waits = {open, flock_wait};
  state.contention = {{1, 77, true, "a wait (exclusive, pid 4300) at 2026-12-03T02:00:00.000Z"}};
  state.directories.open = {{1, {{"200", group}}}};
  state.directories.next = 2;
  state.texts.texts = {{1, "{\"type\":\"hold\"}\n"}};
  state.texts.next = 2;
  state.upgrades = 7;
  state.handles[0].hold_event = 12;
  state.waits[0].waiter.wait_event = 13;
  // The history: an ended event, two going on (one with bytes that are not UTF-8).
  LockEvent ended;
  ended.id = 11;
  ended.type = LockEvent::Type::kRefused;
  ended.object = held.request.object;
  ended.start = LockEvent::Time(std::chrono::nanoseconds(1764720000000000001));
  ended.end = ended.start;
  ended.outcome = "refused";
  ended.note = "pid unknown";
  LockEvent hold = ended;
  hold.id = 12;
  hold.type = LockEvent::Type::kHold;
  hold.mode = LockMode::kExclusive;
  hold.via_mount = true;
  hold.pid = 4242;
  hold.uid = 34;
  hold.command = "proxmox-backup";
  hold.reason = "\xff\xfe not UTF-8";
  hold.end.reset();
  hold.outcome.clear();
  LockEvent wait = hold;
  wait.id = 13;
  wait.type = LockEvent::Type::kWait;
  wait.mode = LockMode::kShared;
  wait.pid = 4300;
  state.history.events.history = {{ended, hold, wait}, 14, 10};
  state.history.events.ongoing = {hold, wait};
  state.history.events.unpublished = 2;
  auto& metrics = state.history.events.metrics;
  metrics.held[{"store1", "group", "exclusive", "mount"}] = 1;
  metrics.waiting[{"store1", "group"}] = 1;
  metrics.refused[{"store1", "group", "direct"}] = 1;
  metrics.hold_seconds[{"store1", "group", "mount"}].observe(0.123456789);
  LockTreeMonitor::Saved monitor;
  monitor.files = {{"store1/ct-200",
                    std::make_pair(dev_t{2049}, ino_t{131}),
                    {{4500, LockMode::kShared, false}}}};
  monitor.events = {{"store1/ct-200", 4500, false, 12}};
  state.history.monitor = monitor;
  return state;
}

TEST(ProgramState, ReadsBackWhatWasWritten) {
  const ProgramState written = sample();
  auto read = ProgramState::decode(written.encode());
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->encode(), written.encode());
  EXPECT_EQ(read->init_request, written.init_request);
  EXPECT_EQ(read->inodes.entries.at(1).node.mount_path(), "store1/ns/a/ns/b/ct/200");
  const SavedHandle& h = read->handles.at(0);
  EXPECT_EQ(h.request.object, written.handles[0].request.object);
  EXPECT_EQ(h.reason, written.handles[0].reason);
  EXPECT_EQ(h.since_ns, written.handles[0].since_ns);
  EXPECT_EQ(h.lock_fd, 8);
  EXPECT_EQ(h.old_style_fd, -1);
  EXPECT_EQ(read->waits.at(0).waiter.deadline_ns, 2500000000);
  EXPECT_EQ(read->waits.at(0).waiter.fi.noflush, 1u);
  EXPECT_EQ(read->waits.at(0).waiter.fi.keep_cache, 0u);
  EXPECT_EQ(read->waits.at(1).waiter.deadline_ns, -1);
  EXPECT_EQ(read->waits.at(1).waiter.fh, 1u);
  EXPECT_EQ(read->contention.at(0).kh, 77u);
  EXPECT_TRUE(read->contention.at(0).pending);
  EXPECT_EQ(read->descriptors(), (std::vector<int>{3, 7, 8, 9}));
  // The history, exactly: times to the nanosecond, texts byte for byte.
  EXPECT_EQ(h.hold_event, 12u);
  EXPECT_EQ(read->waits.at(0).waiter.wait_event, 13u);
  const auto& events = read->history.events;
  ASSERT_EQ(events.history.events.size(), 3u);
  EXPECT_EQ(events.history.events[0].start, written.history.events.history.events[0].start);
  EXPECT_EQ(events.history.events[0].end, events.history.events[0].start);
  EXPECT_EQ(events.history.events[1].reason, "\xff\xfe not UTF-8");
  EXPECT_FALSE(events.history.events[1].end);
  EXPECT_EQ(events.history.next_id, 14u);
  EXPECT_EQ(events.history.dropped, 10u);
  EXPECT_EQ(events.ongoing.size(), 2u);
  const auto& hist = events.metrics.hold_seconds.at({"store1", "group", "mount"});
  EXPECT_EQ(hist.sum, 0.123456789);
  EXPECT_EQ(hist.count, 1u);
  EXPECT_EQ(hist.buckets[3], 1u);  // 0.1 < 0.123 <= 0.5
  ASSERT_TRUE(read->history.monitor);
  EXPECT_EQ(read->history.monitor->files.at(0).identity, std::make_pair(dev_t{2049}, ino_t{131}));
  EXPECT_EQ(read->history.monitor->events.at(0).id, 12u);
}

// The format before the history was handed over (1) is still read: an upgrade from that
// version keeps the locks; the history starts anew.
TEST(ProgramState, ReadsTheFormatBeforeTheHistory) {
  ProgramState old = sample();
  old.format = 1;
  auto read = ProgramState::decode(old.encode());
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->format, 1u);
  EXPECT_EQ(read->handles.at(0).lock_fd, 8);
  EXPECT_EQ(read->handles.at(0).hold_event, 0u);
  EXPECT_EQ(read->waits.at(1).waiter.fh, 1u);
  EXPECT_TRUE(read->history.events.history.events.empty());
  EXPECT_FALSE(read->history.monitor);
  EXPECT_EQ(read->upgrades, 7u);
}

TEST(ProgramState, RefusesAStateCutShortAnywhere) {
  const std::string whole = sample().encode();
  for (std::size_t size = 0; size < whole.size(); ++size) {
    auto read = ProgramState::decode(std::string_view(whole).substr(0, size));
    ASSERT_FALSE(read.ok()) << "cut at " << size;
    EXPECT_FALSE(read.error().message.empty());
  }
  EXPECT_FALSE(ProgramState::decode(whole + "x").ok()) << "something after the end";
}

TEST(ProgramState, RefusesAnotherFormatOrAContradiction) {
  std::string other = sample().encode();
  const std::string format = "\n" + std::to_string(ProgramState::kFormat) + "\n";
  other.replace(other.find(format), format.size(), "\n99\n");
  auto read = ProgramState::decode(other);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, EPROTO);
  EXPECT_NE(read.error().message.find("state format 99"), std::string::npos);

  ProgramState twice = sample();
  twice.handles.push_back(twice.handles[0]);  // the same file handle, the same descriptor
  EXPECT_FALSE(ProgramState::decode(twice.encode()).ok());
  ProgramState unknown = sample();
  unknown.waits[1].waiter.fh = 3;  // a flock of a handle that is not there
  EXPECT_FALSE(ProgramState::decode(unknown.encode()).ok());
  ProgramState contended = sample();
  contended.contention[0].fh = 4;  // contention of a handle that is not there
  EXPECT_FALSE(ProgramState::decode(contended.encode()).ok());
  ProgramState gap = sample();
  gap.history.events.history.events[1].id = 15;  // history ids must follow each other
  EXPECT_FALSE(ProgramState::decode(gap.encode()).ok());
  ProgramState ended = sample();
  ended.history.events.ongoing[0].end = ended.history.events.ongoing[0].start;
  EXPECT_FALSE(ProgramState::decode(ended.encode()).ok()) << "an ended event going on";
  ProgramState orphan = sample();
  orphan.inodes.entries[1].parent = 9;  // a node whose parent is not in the table
  EXPECT_FALSE(ProgramState::decode(orphan.encode()).ok());
}

}  // namespace
}  // namespace pbs::fs
