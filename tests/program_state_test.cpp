// ProgramState, what one program image hands to the next in an upgrade in place: it reads back
// exactly what was written, and anything else (cut short at any byte, another format, a
// contradiction) is refused with a message, never a crash.
#include <gtest/gtest.h>

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
  ProgramState orphan = sample();
  orphan.inodes.entries[1].parent = 9;  // a node whose parent is not in the table
  EXPECT_FALSE(ProgramState::decode(orphan.encode()).ok());
}

}  // namespace
}  // namespace pbs::fs
