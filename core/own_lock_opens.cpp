// Counting our own lock file opens; see own_lock_opens.hpp.
#include "own_lock_opens.hpp"

#include <sys/stat.h>

namespace pbs {

OwnLockOpens& OwnLockOpens::instance() {
  static OwnLockOpens counts;
  return counts;
}

void OwnLockOpens::count(dev_t device, ino_t inode, unsigned opens, unsigned closes) {
  MutexLock lock(mutex_);
  Entry& entry = entries_[{device, inode}];
  entry.counts.opens += opens;
  entry.counts.closes += closes;
  entry.updated = std::chrono::steady_clock::now();
}

OwnLockOpens::Counts OwnLockOpens::take(dev_t device, ino_t inode) {
  MutexLock lock(mutex_);
  auto found = entries_.find({device, inode});
  if (found == entries_.end()) return {};
  Counts counts = found->second.counts;
  entries_.erase(found);
  return counts;
}

void OwnLockOpens::forget_older_than(std::chrono::steady_clock::duration age) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(mutex_);
  std::erase_if(entries_, [&](const auto& entry) { return now - entry.second.updated > age; });
}

LockFileFd::LockFileFd(UniqueFd fd, const struct stat& st)
    : fd_(std::move(fd)), device_(st.st_dev), inode_(st.st_ino) {
  if (fd_ && OwnLockOpens::instance().enabled()) {
    counted_ = true;
    OwnLockOpens::instance().opened(device_, inode_);
  }
}

LockFileFd LockFileFd::adopted(UniqueFd fd, const struct stat& st) {
  LockFileFd adopted;
  adopted.fd_ = std::move(fd);
  adopted.device_ = st.st_dev;
  adopted.inode_ = st.st_ino;
  adopted.counted_ = adopted.fd_.valid();
  return adopted;
}

LockFileFd& LockFileFd::operator=(LockFileFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::move(other.fd_);
    device_ = other.device_;
    inode_ = other.inode_;
    counted_ = other.counted_;
    other.counted_ = false;
  }
  return *this;
}

void LockFileFd::reset() {
  // Counted before the close: the watcher may read the close event the moment it happens.
  // Not while nobody watches (an adopted descriptor is counted from before the watcher ran).
  if (fd_ && counted_ && OwnLockOpens::instance().enabled())
    OwnLockOpens::instance().closed(device_, inode_);
  fd_.reset();
  counted_ = false;
}

}  // namespace pbs
