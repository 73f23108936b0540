// Recording, completing and logging lock events; see lock_event_recorder.hpp.
#include "lock_event_recorder.hpp"

#include <sys/uio.h>

#include <spdlog/spdlog.h>
#include <systemd/sd-journal.h>

#include <cstring>

namespace pbs::fs {
namespace {

// publish() runs every few milliseconds; beyond this many unwritten lines (a flood of opens
// with the log far behind) the lines, not the events, are dropped and counted.
constexpr std::size_t kMaxPending = 100000;

std::string outcome_of(int error) {
  if (error == 0) return "granted";
  switch (error) {
    case EINTR:
      return "EINTR";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case EDEADLK:
      return "EDEADLK";
    case EBADF:
      return "EBADF";
    case EWOULDBLOCK:
      return "EWOULDBLOCK";
    default:
      return "errno " + std::to_string(error);
  }
}

// "hold-start", "hold-end", "wait-start", "wait-end", "refused": PBS_LOCK_EVENT= in the journal.
std::string phase_name(const LockEvent& event, bool ended) {
  if (event.type == LockEvent::Type::kRefused) return "refused";
  return std::string(to_string(event.type)) + (ended ? "-end" : "-start");
}

}  // namespace

LockEvent LockEventRecorder::mount_event(const OpenHandle& handle, LockEvent::Type type,
                                         LockMode mode, pid_t pid) const {
  LockEvent event;
  event.type = type;
  event.object = handle.request.object;
  event.mode = mode;
  event.via_mount = true;
  event.pid = pid;
  event.uid = handle.uid;
  event.start = std::chrono::system_clock::now();
  return event;
}

void LockEventRecorder::contended(const LockEvent& e) const {
  if (contention_ == nullptr) return;
  std::string why = e.type == LockEvent::Type::kWait ? "a wait" : "a refused attempt";
  why += std::string(" (") + (e.mode ? std::string(to_string(*e.mode)) : "mode unknown") + ", " +
         (e.via_mount ? "through the mount" : "direct") + ", " +
         (e.pid == 0 ? "pid unknown" : "pid " + std::to_string(e.pid));
  if (!e.command.empty()) why += " " + e.command;
  why += ")";
  contention_->wanted(e.object, why);
}

LockEventRecorder::EventId LockEventRecorder::begin(LockEvent event) {
  metrics_.started(event);
  if (event.type != LockEvent::Type::kHold) contended(event);
  const bool ongoing = event.ongoing();
  LockEvent copy = ongoing ? event : LockEvent{};
  EventId id = history_.record(std::move(event));
  if (ongoing) {
    copy.id = id;
    MutexLock lock(mutex_);
    open_.emplace(id, std::move(copy));
  }
  return id;
}

void LockEventRecorder::end(EventId id, const std::function<void(LockEvent&)>& change) {
  std::optional<LockEvent> event;
  {
    MutexLock lock(mutex_);
    auto found = open_.find(id);
    if (found == open_.end()) return;  // not going on: ended already, or never begun here
    event = std::move(found->second);
    open_.erase(found);
  }
  history_.update(id, change);
  change(*event);
  metrics_.ended(*event);
}

void LockEventRecorder::queue(EventId id, bool ended, ProcessRef process) {
  MutexLock lock(mutex_);
  if (pending_.size() >= kMaxPending) {
    ++unpublished_;
    return;
  }
  pending_.push_back({id, ended, std::move(process)});
}

void LockEventRecorder::hold_changed(const OpenHandle& handle,
                                     std::optional<std::chrono::system_clock::time_point> since) {
  const bool holds = handle.holds();
  const LockMode mode = handle.held_mode();
  std::optional<Held> ended;
  {
    MutexLock lock(mutex_);
    auto found = holds_.find(&handle);
    if (found != holds_.end() && holds && found->second.mode == mode) return;  // unchanged
    if (found != holds_.end()) {
      ended = found->second;
      holds_.erase(found);
    }
  }
  const auto now = std::chrono::system_clock::now();
  if (ended) {
    std::string reason;
    {
      MutexLock hold(const_cast<OpenHandle&>(handle).mutex);
      reason = handle.reason;
    }
    end(ended->id, [&](LockEvent& e) {
      e.end = now;
      e.outcome = holds ? "converted" : "released";
      e.reason = reason;
    });
    queue(ended->id, true);
  }
  if (!holds) {
    if (contention_ != nullptr) contention_->let_go(handle);
    return;
  }
  LockEvent event = mount_event(handle, LockEvent::Type::kHold, mode, handle.opener.pid());
  if (since) {
    event.start = *since;
    event.note = "held since before an upgrade in place of the daemon";
  }
  EventId id = begin(std::move(event));
  {
    MutexLock lock(mutex_);
    holds_[&handle] = {id, mode};
  }
  queue(id, false, handle.opener);
}

void LockEventRecorder::reason_written(const OpenHandle& handle, const std::string& reason) {
  EventId id = 0;
  {
    MutexLock lock(mutex_);
    auto found = holds_.find(&handle);
    if (found == holds_.end()) return;
    id = found->second.id;
  }
  history_.update(id, [&](LockEvent& e) { e.reason = reason; });
}

LockEventRecorder::EventId LockEventRecorder::wait_started(const OpenHandle& handle, LockMode mode,
                                                           pid_t requester) {
  // Not the fast path (the lock is busy): the requester's command is read now, while it runs.
  LockEvent event = mount_event(handle, LockEvent::Type::kWait, mode, requester);
  event.command = process_command(requester);
  EventId id = begin(std::move(event));
  queue(id, false);
  return id;
}

void LockEventRecorder::wait_ended(EventId id, int error) {
  if (id == 0) return;
  const auto now = std::chrono::system_clock::now();
  end(id, [&](LockEvent& e) {
    e.end = now;
    e.outcome = outcome_of(error);
  });
  queue(id, true);
}

void LockEventRecorder::refused(const OpenHandle& handle, LockMode mode, pid_t requester) {
  LockEvent event = mount_event(handle, LockEvent::Type::kRefused, mode, requester);
  event.end = event.start;
  event.outcome = outcome_of(EWOULDBLOCK);
  event.command = process_command(requester);
  queue(begin(std::move(event)), true);
}

LockEventRecorder::EventId LockEventRecorder::record(LockEvent event) {
  const bool ended = event.end.has_value();
  EventId id = begin(std::move(event));
  queue(id, ended);
  return id;
}

void LockEventRecorder::finish(EventId id, LockEvent::Time when, std::string outcome) {
  end(id, [&](LockEvent& e) {
    e.end = when;
    e.outcome = outcome;
  });
  queue(id, true);
}

std::uint64_t LockEventRecorder::unpublished() const {
  MutexLock lock(mutex_);
  return unpublished_;
}

void LockEventRecorder::publish() {
  MutexLock publishing(publish_mutex_);
  std::vector<Pending> pending;
  {
    MutexLock lock(mutex_);
    pending.swap(pending_);
  }
  // One read of /proc/<pid>/comm per process and batch: a process cycling locks through the
  // mount thousands of times a second costs this thread one read, not thousands.
  std::unordered_map<pid_t, std::string> commands;
  const bool logging = spdlog::should_log(spdlog::level::info);
  for (auto& p : pending) {
    if (p.process.pid() != 0) {
      // The mount user's command, while it still runs (a holder that is gone by now shows as
      // `(exited)`, never as whoever has its pid since); looked at once per process and batch.
      auto known = commands.try_emplace(p.process.pid());
      std::string& command = known.first->second;
      if (known.second) {
        command = p.process.alive() ? process_command(p.process.pid()) : "(exited)";
      }
      history_.update(p.id, [&](LockEvent& e) {
        if (e.command.empty()) e.command = command;
      });
    }
    if (!logging) continue;  // PBS_LOCKFS_LOG=warn: no copy of the event to log
    if (auto event = history_.find(p.id)) write_log(*event, p.ended);
  }
}

void LockEventRecorder::write_log(const LockEvent& event, bool ended) const {
  // PBS_LOCKFS_LOG=warn silences them, in the journal too.
  if (!spdlog::should_log(spdlog::level::info)) return;
  const std::string phase = phase_name(event, ended);
  const std::string message = "lock event " + phase + ": " + describe_event(event);
  if (!journal_) {
    spdlog::info("{}", message);
    return;
  }
  std::vector<std::string> fields{
      "MESSAGE=" + message,
      "PRIORITY=6",
      "SYSLOG_IDENTIFIER=pbs-lockfs",
      "PBS_LOCK_EVENT=" + phase,
      "PBS_LOCK_STORE=" + event.object.store,
      "PBS_LOCK_NS=" + event.object.ns.join('/'),
      "PBS_LOCK_KIND=" + std::string(to_string(event.object.kind)),
      "PBS_LOCK_OBJECT=" + (event.object.kind == LockKind::kGroup
                                ? event.object.group.rpath()
                                : event.object.snapshot().rpath()),
      "PBS_LOCK_VIA=" + std::string(event.via_mount ? "mount" : "direct"),
  };
  if (event.mode) fields.push_back("PBS_LOCK_MODE=" + std::string(to_string(*event.mode)));
  if (event.pid != 0) fields.push_back("PBS_LOCK_HOLDER_PID=" + std::to_string(event.pid));
  if (event.uid != static_cast<uid_t>(-1))
    fields.push_back("PBS_LOCK_HOLDER_UID=" + std::to_string(event.uid));
  if (!event.command.empty()) fields.push_back("PBS_LOCK_COMMAND=" + event.command);
  if (!event.task.empty()) fields.push_back("PBS_LOCK_TASK=" + event.task);
  if (!event.reason.empty()) fields.push_back("PBS_LOCK_REASON=" + event.reason);
  if (!event.outcome.empty()) fields.push_back("PBS_LOCK_OUTCOME=" + event.outcome);
  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (auto& f : fields)
    iov.push_back({f.data(), f.size()});
  if (int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size())); r < 0) {
    spdlog::info("{}", message);  // the journal refused it: not lost, at least as a line
  }
}

LockEventRecorder::Saved LockEventRecorder::save() const {
  Saved saved;
  saved.history = history_.save();
  saved.metrics = metrics_.save();
  MutexLock lock(mutex_);
  for (const auto& [id, event] : open_)
    saved.ongoing.push_back(event);
  saved.unpublished = unpublished_;
  return saved;
}

Result<void> LockEventRecorder::check(const Saved& saved) {
  for (const auto& event : saved.ongoing) {
    if (event.id == 0 || event.id >= saved.history.next_id || !event.ongoing())
      return Error{EINVAL, "history: an event going on that is not one"};
  }
  return LockHistory::check(saved.history);
}

Result<void> LockEventRecorder::restore(Saved saved) {
  if (auto ok = check(saved); !ok) return ok;
  if (auto ok = history_.restore(std::move(saved.history)); !ok) return ok;
  metrics_.restore(std::move(saved.metrics));
  MutexLock lock(mutex_);
  for (auto& event : saved.ongoing) {
    const EventId id = event.id;
    open_.emplace(id, std::move(event));
  }
  unpublished_ = saved.unpublished;
  return {};
}

std::optional<LockEventRecorder::EventId> LockEventRecorder::hold_event(
    const OpenHandle& handle) const {
  MutexLock lock(mutex_);
  auto found = holds_.find(&handle);
  if (found == holds_.end()) return std::nullopt;
  return found->second.id;
}

bool LockEventRecorder::continue_hold(const OpenHandle& handle, EventId id) {
  const LockMode mode = handle.held_mode();
  if (!handle.holds()) return false;
  MutexLock lock(mutex_);
  auto found = open_.find(id);
  if (found == open_.end() || found->second.type != LockEvent::Type::kHold ||
      found->second.mode != mode)
    return false;
  holds_[&handle] = {id, mode};
  return true;
}

LockEventRecorder::EventId LockEventRecorder::continue_wait(EventId id, const OpenHandle& handle,
                                                            LockMode mode, pid_t requester) {
  {
    MutexLock lock(mutex_);
    auto found = open_.find(id);
    if (found != open_.end() && found->second.type == LockEvent::Type::kWait) return id;
  }
  return wait_started(handle, mode, requester);
}

}  // namespace pbs::fs
