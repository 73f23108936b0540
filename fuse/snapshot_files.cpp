// The open events and metrics files' texts; see snapshot_files.hpp.
#include "snapshot_files.hpp"

#include <algorithm>

namespace pbs::fs {

std::uint64_t SnapshotFiles::add(std::string text) {
  auto shared = std::make_shared<const std::string>(std::move(text));
  MutexLock lock(mutex_);
  const std::uint64_t fh = next_++;
  texts_.emplace(fh, std::move(shared));
  return fh;
}

std::shared_ptr<const std::string> SnapshotFiles::get(std::uint64_t fh) const {
  MutexLock lock(mutex_);
  auto found = texts_.find(fh);
  return found == texts_.end() ? nullptr : found->second;
}

void SnapshotFiles::release(std::uint64_t fh) {
  std::shared_ptr<const std::string> last;  // freed outside the mutex
  MutexLock lock(mutex_);
  auto found = texts_.find(fh);
  if (found == texts_.end()) return;
  last = std::move(found->second);
  texts_.erase(found);
}

std::size_t SnapshotFiles::open() const {
  MutexLock lock(mutex_);
  return texts_.size();
}

SnapshotFiles::Saved SnapshotFiles::save() const {
  Saved saved;
  MutexLock lock(mutex_);
  for (const auto& [fh, text] : texts_)
    saved.texts.emplace_back(fh, *text);
  saved.next = next_;
  return saved;
}

void SnapshotFiles::restore(Saved saved) {
  MutexLock lock(mutex_);
  for (auto& [fh, text] : saved.texts)
    texts_[fh] = std::make_shared<const std::string>(std::move(text));
  next_ = std::max(next_, saved.next);
}

}  // namespace pbs::fs
