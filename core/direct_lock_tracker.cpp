// The live model of direct lock holders; see direct_lock_tracker.hpp.
#include "direct_lock_tracker.hpp"

#include <algorithm>
#include <array>

namespace pbs {
namespace {

// After the last activity on a file: re-checks then, to see flocks that raise no event and
// closes whose lock the kernel lets go just after reporting them.
// Dense at first: a `stat` must show the change within 50 ms even on a loaded machine.
constexpr std::array<std::chrono::milliseconds, 6> kRecheckAfter{
    std::chrono::milliseconds(3),  std::chrono::milliseconds(10),  std::chrono::milliseconds(20),
    std::chrono::milliseconds(35), std::chrono::milliseconds(100), std::chrono::milliseconds(250)};

}  // namespace

void DirectLockTracker::activity(const std::string& lock_file, Activity what, Clock::time_point now,
                                 bool held_through_mount) {
  File& file = files_[lock_file];
  file.held_at_activity |= held_through_mount;
  file.last_activity = now;
  file.step = 0;
  if (what == Activity::kOpened) ++file.opens;
  if (what == Activity::kClosed) ++file.closes;
}

std::vector<std::string> DirectLockTracker::due(Clock::time_point now) const {
  std::vector<std::string> out;
  for (const auto& [name, file] : files_) {
    if (file.step < kRecheckAfter.size() && file.last_activity + kRecheckAfter[file.step] <= now)
      out.push_back(name);
  }
  return out;
}

DirectLockTracker::Clock::time_point DirectLockTracker::next_due() const {
  auto next = Clock::time_point::max();
  for (const auto& [name, file] : files_) {
    if (file.step < kRecheckAfter.size())
      next = std::min(next, file.last_activity + kRecheckAfter[file.step]);
  }
  return next;
}

std::optional<std::pair<dev_t, ino_t>> DirectLockTracker::identity(
    const std::string& lock_file) const {
  auto found = files_.find(lock_file);
  if (found == files_.end()) return std::nullopt;
  return found->second.identity;
}

DirectLockTracker::Update DirectLockTracker::update(const std::string& lock_file,
                                                    std::optional<std::pair<dev_t, ino_t>> identity,
                                                    const std::vector<ProcLock>& locks, pid_t self,
                                                    OwnLockOpens::Counts own,
                                                    const std::vector<LockMode>& mount_holds,
                                                    Clock::time_point now) {
  Update out;
  File& file = files_[lock_file];
  // Steps already due are done; a check called early (an event just before) counts as the next.
  while (file.step < kRecheckAfter.size() && file.last_activity + kRecheckAfter[file.step] <= now) {
    ++file.step;
  }
  file.closes -= own.closes;
  file.opens -= own.opens;
  out.foreign_activity = file.opens > 0 || file.closes > 0;
  if (file.opens > 0 || file.step >= kRecheckAfter.size()) file.opens = 0;

  std::map<pid_t, Seen> now_seen;
  if (identity) {
    for (const auto& l : locks) {
      if (l.pid == self || l.device != identity->first || l.inode != identity->second) continue;
      Seen seen{l.exclusive ? LockMode::kExclusive : LockMode::kShared, l.waiting};
      auto [entry, added] = now_seen.emplace(l.pid, seen);
      if (!added && entry->second.waiting && !seen.waiting) entry->second = seen;  // holds too
    }
  }
  // A different file at the path (removed and recreated): its holders are new, the old ones
  // held a file nobody can open any more (their holds end when they close it, unseen here).
  const bool same_file = identity == file.identity;
  const auto before = same_file ? file.direct : std::map<pid_t, Seen>{};

  bool held_exclusive =
      std::find(mount_holds.begin(), mount_holds.end(), LockMode::kExclusive) != mount_holds.end();
  bool held = !mount_holds.empty() || file.held_at_activity;
  file.held_at_activity = false;
  long explained = 0;  // closes accounted for by a hold or wait that ended
  for (const auto& [pid, was] : before) {
    if (!was.waiting) held = true, held_exclusive |= was.mode == LockMode::kExclusive;
    auto found = now_seen.find(pid);
    if (found != now_seen.end()) {
      const Seen& is = found->second;
      if (was.waiting && !is.waiting) {
        out.changes.push_back({Change::Kind::kWaitEnded, pid, was.mode, true, false});
        out.changes.push_back({Change::Kind::kHoldStarted, pid, is.mode, false, false});
      } else if (!was.waiting && !is.waiting && was.mode != is.mode) {
        out.changes.push_back({Change::Kind::kHoldEnded, pid, was.mode, false, false});
        out.changes.push_back({Change::Kind::kHoldStarted, pid, is.mode, false, false});
      } else if (!was.waiting && is.waiting) {
        // Let go and now waits again (flock(1) in a loop): an end, then a new wait.
        out.changes.push_back({Change::Kind::kHoldEnded, pid, was.mode, false, false});
        out.changes.push_back({Change::Kind::kWaitStarted, pid, is.mode, false, false});
      }
      continue;
    }
    ++explained;
    out.changes.push_back({was.waiting ? Change::Kind::kWaitEnded : Change::Kind::kHoldEnded, pid,
                           was.mode, false, false});
  }
  for (const auto& [pid, is] : now_seen) {
    if (before.count(pid) != 0) continue;
    out.changes.push_back({is.waiting ? Change::Kind::kWaitStarted : Change::Kind::kHoldStarted,
                           pid, is.mode, false, false});
    if (!is.waiting) held = true, held_exclusive |= is.mode == LockMode::kExclusive;
  }
  // Closes by others that ended no hold and no wait we saw, while somebody held the file.
  const long closes = file.closes;
  const long refused = std::max(0L, closes - explained);
  if (refused > 0 && held) {
    for (long i = 0; i < refused; ++i)
      out.changes.push_back(
          {Change::Kind::kRefused, 0, LockMode::kExclusive, false, !held_exclusive});
  }
  // Below zero, our own closes were counted before inotify reported them: the reports to come
  // are ours, however quiet the file is meanwhile (forget_debts() ends that after a while).
  if (closes < 0) {
    if (file.closes >= 0 || file.owed_since == Clock::time_point{}) file.owed_since = now;
    file.closes = closes;
  } else {
    file.closes = 0;
    file.owed_since = {};
  }

  // A file replaced at its path is a change; a file first seen is one only through its holders.
  out.state_changed = (!same_file && file.identity.has_value()) ||
                      std::any_of(out.changes.begin(), out.changes.end(),
                                  [](const Change& c) { return c.kind != Change::Kind::kRefused; });
  file.identity = identity;
  file.direct = std::move(now_seen);
  if (file.direct.empty() && file.step >= kRecheckAfter.size() && file.closes == 0)
    files_.erase(lock_file);
  return out;
}

void DirectLockTracker::forget_debts(Clock::time_point now, Clock::duration age) {
  for (auto it = files_.begin(); it != files_.end();) {
    File& file = it->second;
    if (file.closes < 0 && now - file.owed_since > age) file.closes = 0;
    const bool idle = file.closes == 0 && file.direct.empty() && file.step >= kRecheckAfter.size();
    it = idle ? files_.erase(it) : std::next(it);
  }
}

std::vector<DirectLockTracker::SavedFile> DirectLockTracker::save() const {
  std::vector<SavedFile> saved;
  for (const auto& [name, file] : files_) {
    SavedFile s{name, file.identity, {}};
    for (const auto& [pid, seen] : file.direct)
      s.direct.push_back({pid, seen.mode, seen.waiting});
    saved.push_back(std::move(s));
  }
  return saved;
}

void DirectLockTracker::restore(const std::vector<SavedFile>& saved, Clock::time_point now) {
  for (const auto& s : saved) {
    File& file = files_[s.lock_file];
    file.identity = s.identity;
    for (const auto& d : s.direct)
      file.direct[d.pid] = {d.mode, d.waiting};
    file.last_activity = now;
    file.step = 0;
  }
}

}  // namespace pbs
