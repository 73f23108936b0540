// The bounded event ring; see lock_history.hpp.
#include "lock_history.hpp"

#include <algorithm>
#include <iterator>

namespace pbs {

LockHistory::EventId LockHistory::record(LockEvent event) {
  MutexLock lock(mutex_);
  event.id = next_id_++;
  const EventId id = event.id;
  if (capacity_ == 0) {
    ++dropped_;
    return id;
  }
  if (ring_.size() == capacity_) {
    ring_.pop_front();
    ++dropped_;
  }
  ring_.push_back(std::move(event));
  return id;
}

LockEvent* LockHistory::at(EventId id) {
  if (ring_.empty() || id < ring_.front().id || id > ring_.back().id) return nullptr;
  return &ring_[id - ring_.front().id];
}

bool LockHistory::finish(EventId id, LockEvent::Time end, std::string outcome) {
  MutexLock lock(mutex_);
  LockEvent* event = at(id);
  if (event == nullptr) return false;
  event->end = end;
  event->outcome = std::move(outcome);
  return true;
}

bool LockHistory::update(EventId id, const std::function<void(LockEvent&)>& change) {
  MutexLock lock(mutex_);
  LockEvent* event = at(id);
  if (event == nullptr) return false;
  change(*event);
  return true;
}

std::optional<LockEvent> LockHistory::find(EventId id) const {
  MutexLock lock(mutex_);
  if (ring_.empty() || id < ring_.front().id || id > ring_.back().id) return std::nullopt;
  return ring_[id - ring_.front().id];
}

std::vector<LockEvent> LockHistory::events() const {
  MutexLock lock(mutex_);
  return {ring_.begin(), ring_.end()};
}

std::size_t LockHistory::size() const {
  MutexLock lock(mutex_);
  return ring_.size();
}

std::uint64_t LockHistory::dropped() const {
  MutexLock lock(mutex_);
  return dropped_;
}

LockHistory::Saved LockHistory::save() const {
  MutexLock lock(mutex_);
  return {{ring_.begin(), ring_.end()}, next_id_, dropped_};
}

Result<void> LockHistory::check(const Saved& saved) {
  for (std::size_t i = 0; i < saved.events.size(); ++i) {
    const EventId id = saved.events[i].id;
    if (id == 0 || id >= saved.next_id || (i > 0 && id != saved.events[i - 1].id + 1))
      return Error{EINVAL, "history: event ids not consecutive"};
  }
  return {};
}

Result<void> LockHistory::restore(Saved saved) {
  if (auto ok = check(saved); !ok) return ok;
  MutexLock lock(mutex_);
  ring_.clear();
  dropped_ = saved.dropped;
  next_id_ = saved.next_id;
  const std::size_t keep = std::min(saved.events.size(), capacity_);
  dropped_ += saved.events.size() - keep;
  ring_.insert(ring_.end(),
               std::make_move_iterator(saved.events.end() - static_cast<std::ptrdiff_t>(keep)),
               std::make_move_iterator(saved.events.end()));
  return {};
}

}  // namespace pbs
