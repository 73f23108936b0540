// The state handed from one program image to the next; see program_state.hpp.
#include "program_state.hpp"

#include <fcntl.h>

#include <algorithm>
#include <map>
#include <set>

#include "connection_io.hpp"
#include "filesystem.hpp"
#include "state_codec.hpp"
#include "state_fields.hpp"

namespace pbs::fs {
namespace {

constexpr std::string_view kMagic = "pbs-lockfs-state";
constexpr std::string_view kEnd = "end";

void write_node(StateWriter& out, const Node& node) {
  out.number(static_cast<std::uint64_t>(node.kind));
  out.text(node.store);
  out.text(node.ns.join('/'));
  out.number(static_cast<std::uint64_t>(node.type));
  out.text(node.id);
  out.text(node.time);
}

Node read_node(StateReader& in) {
  Node node;
  node.kind = enumerated(in, "node kind", NodeKind::kMetricsFile);
  node.store = in.text("node store");
  node.ns = read_namespace(in);
  node.type = enumerated(in, "node type", BackupType::kHost);
  node.id = in.text("node id");
  node.time = in.text("node time");
  return node;
}

void write_handle(StateWriter& out, const SavedHandle& h, std::uint64_t format) {
  out.number(h.fh);
  write_object(out, h.request.object);
  out.number(static_cast<std::uint64_t>(h.request.mode));
  out.text(h.request.datastore_path);
  out.number(h.request.create ? 1 : 0);
  out.number(static_cast<std::uint64_t>(h.opener));
  out.number(maybe(h.opener_pidfd));
  out.number(h.uid);
  out.text(h.command);
  out.number(maybe(h.lock_fd));
  out.number(maybe(h.old_style_fd));
  out.number(static_cast<std::uint64_t>(h.held));
  out.number(static_cast<std::uint64_t>(h.since_ns));
  out.text(h.reason);
  if (format >= 2) out.number(h.hold_event);
}

SavedHandle read_handle(StateReader& in, std::uint64_t format) {
  SavedHandle h;
  h.fh = in.number("fh");
  h.request.object = read_object(in);
  h.request.mode = enumerated(in, "mode", LockMode::kExclusive);
  h.request.datastore_path = in.text("datastore path");
  h.request.create = in.number("create") != 0;
  h.opener = static_cast<pid_t>(in.number("opener"));
  h.opener_pidfd = maybe_fd(in, "opener pidfd");
  h.uid = static_cast<uid_t>(in.number("uid"));
  h.command = in.text("command");
  h.lock_fd = maybe_fd(in, "lock fd");
  h.old_style_fd = maybe_fd(in, "old-style lock fd");
  h.held = enumerated(in, "held mode", LockMode::kExclusive);
  h.since_ns = static_cast<std::int64_t>(in.number("since"));
  h.reason = in.text("reason");
  if (format >= 2) h.hold_event = in.number("hold event");
  return h;
}

}  // namespace

std::string ProgramState::encode() const {
  StateWriter out;
  out.text(kMagic);
  out.number(format);
  out.text(version);
  out.number(maybe(connection_fd));
  out.text(init_request);
  out.text(init_reply);
  out.number(inodes.entries.size());
  for (const auto& entry : inodes.entries) {
    out.number(entry.ino);
    out.number(entry.parent);
    out.number(entry.lookups);
    write_node(out, entry.node);
  }
  out.number(inodes.next);
  out.number(handles.size());
  for (const auto& h : handles)
    write_handle(out, h, format);
  out.number(next_fh);
  out.number(waits.size());
  for (const auto& [w, handle] : waits) {
    out.number(w.unique);
    out.number(w.is_open ? 1 : 0);
    out.number(static_cast<std::uint64_t>(w.mode));
    out.number(static_cast<std::uint64_t>(w.requester));
    out.number(static_cast<std::uint64_t>(w.deadline_ns + 1));
    out.number(static_cast<std::uint64_t>(static_cast<unsigned>(w.fi.flags)));
    // The open answer's bits.
    out.number((w.fi.direct_io != 0 ? 1u : 0u) | (w.fi.keep_cache != 0 ? 2u : 0u) |
               (w.fi.noflush != 0 ? 4u : 0u));
    out.number(w.fh);
    if (w.is_open) write_handle(out, handle, format);  // a flock's handle is among the handles
    if (format >= 2) out.number(w.wait_event);
  }
  out.number(contention.size());
  for (const auto& c : contention) {
    out.number(c.fh);
    out.number(c.kh);
    out.number(c.pending ? 1 : 0);
    out.text(c.why);
  }
  out.number(directories.open.size());
  for (const auto& [fh, entries] : directories.open) {
    out.number(fh);
    out.number(entries.size());
    for (const auto& [name, node] : entries) {
      out.text(name);
      write_node(out, node);
    }
  }
  out.number(directories.next);
  out.number(texts.texts.size());
  for (const auto& [fh, text] : texts.texts) {
    out.number(fh);
    out.text(text);
  }
  out.number(texts.next);
  out.number(upgrades);
  if (format >= 2) write_history(out, history);
  out.text(kEnd);
  return out.data();
}

Result<ProgramState> ProgramState::decode(std::string_view data) {
  StateReader in(data);
  ProgramState state;
  if (in.text("magic") != kMagic) return Error{EINVAL, "not a pbs-lockfs state"};
  state.format = in.number("format");
  if (in.ok() && (state.format < kOldestFormat || state.format > kFormat)) {
    return Error{EPROTO, "state format " + std::to_string(state.format) + " (this program reads " +
                             std::to_string(kOldestFormat) + " to " + std::to_string(kFormat) +
                             ")"};
  }
  const std::uint64_t format = state.format;
  state.version = in.text("version");
  state.connection_fd = maybe_fd(in, "connection");
  state.init_request = in.text("init request");
  state.init_reply = in.text("init reply");
  for (auto n = in.count("inodes"); in.ok() && n > 0; --n) {
    InodeTable::Saved entry;
    entry.ino = in.number("ino");
    entry.parent = in.number("parent");
    entry.lookups = in.number("lookups");
    entry.node = read_node(in);
    state.inodes.entries.push_back(std::move(entry));
  }
  state.inodes.next = in.number("next inode");
  for (auto n = in.count("handles"); in.ok() && n > 0; --n)
    state.handles.push_back(read_handle(in, format));
  state.next_fh = in.number("next fh");
  for (auto n = in.count("waits"); in.ok() && n > 0; --n) {
    SavedWait wait;
    SavedWaiter& w = wait.waiter;
    w.unique = in.number("wait unique");
    w.is_open = in.number("wait kind") != 0;
    w.mode = enumerated(in, "wait mode", LockMode::kExclusive);
    w.requester = static_cast<pid_t>(in.number("requester"));
    w.deadline_ns = static_cast<std::int64_t>(in.number("deadline")) - 1;
    w.fi.flags = static_cast<int>(in.number("open flags"));
    const auto answer = in.number("open answer");
    w.fi.direct_io = (answer & 1u) != 0;
    w.fi.keep_cache = (answer & 2u) != 0;
    w.fi.noflush = (answer & 4u) != 0;
    w.fh = in.number("wait fh");
    if (w.is_open) wait.handle = read_handle(in, format);
    if (format >= 2) w.wait_event = in.number("wait event");
    state.waits.push_back(std::move(wait));
  }
  for (auto n = in.count("contention"); in.ok() && n > 0; --n) {
    ContentionNotifier::Saved c;
    c.fh = in.number("contention fh");
    c.kh = in.number("poll kh");
    c.pending = in.number("contention pending") != 0;
    c.why = in.text("contention");
    state.contention.push_back(std::move(c));
  }
  for (auto n = in.count("directories"); in.ok() && n > 0; --n) {
    const std::uint64_t fh = in.number("directory fh");
    std::vector<std::pair<std::string, Node>> entries;
    for (auto m = in.count("directory entries"); in.ok() && m > 0; --m) {
      std::string name = in.text("entry name");
      entries.emplace_back(std::move(name), read_node(in));
    }
    state.directories.open.emplace_back(fh, std::move(entries));
  }
  state.directories.next = in.number("next directory");
  for (auto n = in.count("texts"); in.ok() && n > 0; --n) {
    const std::uint64_t fh = in.number("text fh");
    state.texts.texts.emplace_back(fh, in.text("text"));
  }
  state.texts.next = in.number("next text");
  state.upgrades = in.number("upgrades");
  if (format >= 2) state.history = read_history(in);
  if (in.text("end") != kEnd || !in.at_end()) in.fail("state: does not end where it should");
  if (!in.ok()) return Error{EINVAL, in.error()};
  if (auto ok = check_state(state); !ok) return ok.error();
  return state;
}

std::vector<int> ProgramState::descriptors() const {
  std::vector<int> fds{connection_fd};
  for (const auto& h : handles) {
    for (int fd : {h.opener_pidfd, h.lock_fd, h.old_style_fd}) {
      if (fd >= 0) fds.push_back(fd);
    }
  }
  for (const auto& w : waits) {
    if (w.waiter.is_open && w.handle.opener_pidfd >= 0) fds.push_back(w.handle.opener_pidfd);
  }
  std::sort(fds.begin(), fds.end());
  fds.erase(std::unique(fds.begin(), fds.end()), fds.end());
  return fds;
}

Result<void> check_state(const ProgramState& state) {
  if (state.connection_fd < 0) return Error{EINVAL, "state: no connection descriptor"};
  if (state.init_request.empty() || state.init_reply.empty())
    return Error{EINVAL, "state: no FUSE_INIT exchange"};
  InodeTable scratch;
  if (auto ok = scratch.restore(state.inodes); !ok) return ok.error();
  if (auto ok = LockEventRecorder::check(state.history.events); !ok) return ok.error();
  std::set<std::uint64_t> fhs;
  std::set<int> lock_fds;
  for (const auto& h : state.handles) {
    if (h.fh == 0 || h.fh >= state.next_fh || !fhs.insert(h.fh).second)
      return Error{EINVAL, "state: file handle " + std::to_string(h.fh) + " twice or too large"};
    for (int fd : {h.lock_fd, h.old_style_fd}) {
      if (fd >= 0 && (fd == state.connection_fd || !lock_fds.insert(fd).second))
        return Error{EINVAL, "state: lock descriptor " + std::to_string(fd) + " twice"};
    }
    if (h.lock_fd < 0 && h.old_style_fd >= 0)
      return Error{EINVAL, "state: an old-style lock without its lock file"};
  }
  std::set<std::uint64_t> uniques;
  for (const auto& [w, handle] : state.waits) {
    if (w.unique == 0 || !uniques.insert(w.unique).second)
      return Error{EINVAL, "state: a waiting request's id is 0 or twice"};
    if (!w.is_open && fhs.count(w.fh) == 0)
      return Error{EINVAL, "state: a waiting flock of an unknown handle"};
    if (w.is_open && handle.lock_fd >= 0)
      return Error{EINVAL, "state: a waiting open holds a lock"};
  }
  for (const auto& c : state.contention) {
    if (fhs.count(c.fh) == 0) return Error{EINVAL, "state: contention of an unknown handle"};
  }
  for (const auto& [fh, entries] : state.directories.open) {
    if (fh == 0 || fh >= state.directories.next)
      return Error{EINVAL, "state: directory handle " + std::to_string(fh) + " too large"};
  }
  for (const auto& [fh, text] : state.texts.texts) {
    if (fh == 0 || fh >= state.texts.next)
      return Error{EINVAL, "state: text handle " + std::to_string(fh) + " too large"};
  }
  return {};
}

namespace {

SavedHandle saved_handle(Filesystem& fs, OpenHandle& handle) {
  SavedHandle h;
  if (auto id = fs.events->hold_event(handle)) h.hold_event = *id;
  h.fh = handle.fh;
  h.request = handle.request;
  h.opener = handle.opener.pid();
  h.opener_pidfd = handle.opener.pidfd();
  h.uid = handle.uid;
  MutexLock hold(handle.mutex);
  h.command = handle.command;
  if (handle.lock.held()) {
    h.lock_fd = handle.lock.file_fd();
    h.old_style_fd = handle.lock.old_style_fd();
    h.held = handle.lock.mode();
  }
  h.since_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(handle.since.time_since_epoch()).count();
  h.reason = handle.reason;
  return h;
}

/// The handle `h` describes, taking over its descriptors; `openers` shares one ProcessRef per
/// pidfd between the handles of a process.
Result<std::shared_ptr<OpenHandle>> restored_handle(Filesystem& fs, SavedHandle& h,
                                                    std::map<int, ProcessRef>& openers) {
  auto handle = std::make_shared<OpenHandle>();
  handle->fh = h.fh;
  handle->request = std::move(h.request);
  handle->lock_file = handle->request.object.lock_path().relative();
  if (h.opener_pidfd >= 0) {
    auto [found, added] = openers.try_emplace(h.opener_pidfd);
    if (added) found->second = ProcessRef::adopt(h.opener, UniqueFd(h.opener_pidfd));
    handle->opener = found->second;
  } else {
    handle->opener = ProcessRef::adopt(h.opener, UniqueFd());
  }
  handle->uid = h.uid;
  MutexLock hold(handle->mutex);
  handle->command = std::move(h.command);
  handle->reason = std::move(h.reason);
  const auto since = std::chrono::system_clock::time_point(std::chrono::nanoseconds(h.since_ns));
  handle->since = since;
  if (h.lock_fd >= 0) {
    auto lock = Lock::adopt(*fs.lock_root, handle->request.object.lock_path(), UniqueFd(h.lock_fd),
                            UniqueFd(h.old_style_fd), h.held);
    if (!lock) return lock.error();
    handle->adopt(std::move(lock.value()), since);
  }
  return handle;
}

}  // namespace

Result<ProgramState> capture_state(Filesystem& fs, int connection_fd) {
  ProgramState state;
  state.version = PBS_LOCKFS_VERSION;
  state.connection_fd = connection_fd;
  state.init_request = ConnectionIo::init_request();
  state.init_reply = ConnectionIo::init_reply();
  if (state.init_request.empty() || state.init_reply.empty())
    return Error{EAGAIN, "the FUSE_INIT exchange was not seen"};
  auto waiters = fs.lock_manager->saved_waiters();
  if (!waiters) return waiters.error();
  state.inodes = fs.inodes.save();
  for (const auto& handle : fs.lock_manager->all_handles())
    state.handles.push_back(saved_handle(fs, *handle));
  for (auto& w : *waiters) {
    SavedWait wait;
    if (w.is_open) wait.handle = saved_handle(fs, *w.handle);
    w.handle.reset();
    wait.waiter = std::move(w);
    state.waits.push_back(std::move(wait));
  }
  state.next_fh = fs.lock_manager->next_fh();
  state.contention = fs.contention->save();
  state.directories = save_open_directories();
  state.texts = fs.snapshots.save();
  // The log lines of events so far are written by this image; the events go on in the next.
  fs.events->publish();
  state.history.events = fs.events->save();
  if (fs.monitor != nullptr) state.history.monitor = fs.monitor->save();
  return state;
}

Result<Handover> install_state(Filesystem& fs, ProgramState state) {
  if (auto ok = check_state(state); !ok) return ok.error();
  if (auto ok = fs.inodes.restore(state.inodes); !ok) return ok.error();
  if (auto ok = fs.events->restore(std::move(state.history.events)); !ok) return ok.error();
  std::map<int, ProcessRef> openers;  // one per descriptor: handles of a process share it
  std::vector<std::shared_ptr<OpenHandle>> handles;
  for (auto& h : state.handles) {
    auto handle = restored_handle(fs, h, openers);
    if (!handle) return handle.error();
    // Its hold goes on as the event it began as (else LockManager::adopt begins one).
    if (h.hold_event != 0) fs.events->continue_hold(**handle, h.hold_event);
    handles.push_back(std::move(handle.value()));
  }
  Handover handover;
  handover.monitor = std::move(state.history.monitor);
  std::vector<SavedWaiter>& waiters = handover.waiters;
  for (auto& [w, saved] : state.waits) {
    if (w.is_open) {
      auto handle = restored_handle(fs, saved, openers);
      if (!handle) return handle.error();
      w.handle = std::move(handle.value());
    }
    waiters.push_back(std::move(w));
  }
  fs.lock_manager->adopt(std::move(handles), state.next_fh);
  fs.contention->restore(state.contention,
                         [&fs](std::uint64_t fh) { return fs.lock_manager->handle_of(fh); });
  restore_open_directories(std::move(state.directories));
  fs.snapshots.restore(std::move(state.texts));
  return handover;
}

}  // namespace pbs::fs
