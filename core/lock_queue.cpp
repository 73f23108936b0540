// The wait algorithm: per-lock FIFO queues, head probing, backoff and deadlines; see the header.
#include "lock_queue.hpp"

#include <algorithm>

namespace pbs {

LockQueue::~LockQueue() {
  if (watch_ == nullptr) return;
  for (const auto& [wd, key] : by_watch_)
    watch_->unwatch(wd);
}

void LockQueue::add(WaiterId id, const std::string& key, LockRequest request,
                    Clock::time_point deadline) {
  auto& state = keys_[key];
  state.waiters.push_back({id, std::move(request), deadline});
  if (deadline != Clock::time_point::max()) ++state.with_deadline;
  index_[id] = key;
  touched_.insert(key);
}

bool LockQueue::remove(WaiterId id) {
  auto indexed = index_.find(id);
  if (indexed == index_.end()) return false;
  auto found = keys_.find(indexed->second);
  index_.erase(indexed);
  if (found == keys_.end()) return false;
  auto& waiters = found->second.waiters;
  auto it = std::find_if(waiters.begin(), waiters.end(), [&](const auto& w) { return w.id == id; });
  if (it == waiters.end()) return false;
  if (it->deadline != Clock::time_point::max()) --found->second.with_deadline;
  waiters.erase(it);
  // The next in line may go now (it was behind an exclusive waiter, or shares with a holder).
  touched_.insert(found->first);
  forget_if_idle(found);
  return true;
}

void LockQueue::touch(const std::string& key) {
  auto found = keys_.find(key);
  if (found == keys_.end()) return;
  found->second.backoff = kFirstBackoff;
  touched_.insert(key);
}

void LockQueue::file_events(const std::vector<int>& watch_descriptors) {
  for (int wd : watch_descriptors) {
    auto found = by_watch_.find(wd);
    // The kernel reports a close just before it drops the flock: retry now and soon after.
    if (found != by_watch_.end()) touch(std::string(found->second));
  }
}

std::vector<LockQueue::Outcome> LockQueue::poll(Clock::time_point now) {
  std::vector<Outcome> out;
  std::set<std::string> todo = std::move(touched_);
  touched_.clear();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto node = timers_.extract(timers_.begin());
    if (auto found = keys_.find(node.value().second); found != keys_.end())
      found->second.due = Clock::time_point::max();
    todo.insert(std::move(node.value().second));
  }
  for (const auto& key : todo) {
    if (auto found = keys_.find(key); found != keys_.end()) process(found, now, out);
  }
  return out;
}

std::vector<LockQueue::Outcome> LockQueue::poll(const std::string& key, Clock::time_point now) {
  std::vector<Outcome> out;
  auto found = keys_.find(key);
  if (found == keys_.end()) return out;
  found->second.backoff = kFirstBackoff;
  touched_.erase(key);
  process(found, now, out);
  return out;
}

std::vector<LockQueue::WaiterId> LockQueue::clear() {
  std::vector<WaiterId> ended;
  for (auto& [key, state] : keys_) {
    for (const auto& w : state.waiters)
      ended.push_back(w.id);
    if (state.watch >= 0 && watch_ != nullptr) watch_->unwatch(state.watch);
  }
  keys_.clear();
  index_.clear();
  by_watch_.clear();
  touched_.clear();
  timers_.clear();
  return ended;
}

LockQueue::Clock::time_point LockQueue::next_due() const {
  if (!touched_.empty()) return Clock::time_point::min();
  return timers_.empty() ? Clock::time_point::max() : timers_.begin()->first;
}

std::size_t LockQueue::waiters(const std::string& key) const {
  auto found = keys_.find(key);
  return found == keys_.end() ? 0 : found->second.waiters.size();
}

std::vector<LockQueue::WaiterId> LockQueue::queued(const std::string& key) const {
  std::vector<WaiterId> ids;
  if (auto found = keys_.find(key); found != keys_.end()) {
    for (const auto& w : found->second.waiters)
      ids.push_back(w.id);
  }
  return ids;
}

void LockQueue::end_head(Key& state, std::vector<Outcome>& out, int error, std::string message,
                         Lock lock) {
  Waiter& head = state.waiters.front();
  if (head.deadline != Clock::time_point::max()) --state.with_deadline;
  index_.erase(head.id);
  out.push_back({head.id, error, std::move(message), std::move(lock)});
  state.waiters.pop_front();
}

void LockQueue::expire(Key& state, Clock::time_point now, std::vector<Outcome>& out) {
  if (state.with_deadline == 0) return;
  for (auto it = state.waiters.begin(); it != state.waiters.end();) {
    if (it->deadline > now) {
      ++it;
      continue;
    }
    --state.with_deadline;
    index_.erase(it->id);
    out.push_back({it->id, ETIMEDOUT, "timed out waiting for the lock", {}});
    it = state.waiters.erase(it);
  }
}

void LockQueue::process(KeyMap::iterator found, Clock::time_point now, std::vector<Outcome>& out) {
  const std::string& key = found->first;
  Key& state = found->second;
  expire(state, now, out);
  bool busy = false;
  while (!state.waiters.empty()) {
    Waiter& head = state.waiters.front();
    if (head_check_ && head_check_(head.id) == HeadCheck::kSatisfied) {
      end_head(state, out, 0, {}, {});
      continue;
    }
    if (!state.probe) {
      auto probe = PendingLock::open(root_, head.request);
      if (!probe) {
        end_head(state, out, probe.error().code, probe.error().message, {});
        continue;
      }
      state.probe.emplace(std::move(probe.value()));
    }
    state.probe->set_mode(head.request.mode);
    auto taken = state.probe->try_take();
    if (taken) {
      state.probe.reset();  // spent: its descriptor is the granted lock now
      end_head(state, out, 0, {}, std::move(taken.value()));
      continue;  // the next one may share it
    }
    if (taken.error().code != EWOULDBLOCK) {
      state.probe.reset();
      end_head(state, out, taken.error().code, taken.error().message, {});
      continue;
    }
    watch_probe(key, state);
    busy = true;
    break;
  }
  if (state.waiters.empty()) return forget_if_idle(found);
  auto when = Clock::time_point::max();
  if (busy) {
    when = now + state.backoff;
    state.backoff = std::min(state.backoff * 2, kMaxBackoff);
  }
  if (state.with_deadline > 0) {
    for (const auto& w : state.waiters)
      when = std::min(when, w.deadline);
  }
  schedule(key, state, when);
}

void LockQueue::watch_probe(const std::string& key, Key& state) {
  if (watch_ == nullptr || state.probe->generation() == state.probe_generation) return;
  // A new file (the first, or the old one was replaced): watch it instead.
  if (state.watch >= 0) {
    watch_->unwatch(state.watch);
    by_watch_.erase(state.watch);
    state.watch = -1;
  }
  state.probe_generation = state.probe->generation();
  // Without a watch the backoff timer still finds the lock free, only later.
  if (auto wd = watch_->watch(state.probe->file_fd())) {
    state.watch = *wd;
    by_watch_[*wd] = key;
  }
}

void LockQueue::schedule(const std::string& key, Key& state, Clock::time_point when) {
  if (state.due == when) return;
  if (state.due != Clock::time_point::max()) timers_.erase({state.due, key});
  state.due = when;
  if (when != Clock::time_point::max()) timers_.insert({when, key});
}

void LockQueue::forget_if_idle(KeyMap::iterator found) {
  Key& state = found->second;
  if (!state.waiters.empty()) return;
  if (state.due != Clock::time_point::max()) timers_.erase({state.due, found->first});
  if (state.watch >= 0) {
    if (watch_ != nullptr) watch_->unwatch(state.watch);
    by_watch_.erase(state.watch);
  }
  touched_.erase(found->first);
  keys_.erase(found);
}

}  // namespace pbs
