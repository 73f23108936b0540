// The inode trimmer; see inode_trimmer.hpp.
#include "inode_trimmer.hpp"

#include <malloc.h>

#include <spdlog/spdlog.h>

#include <chrono>

namespace pbs::fs {

InodeTrimmer::InodeTrimmer(fuse_session* session, InodeTable& inodes, std::size_t limit)
    : session_(session), inodes_(inodes), limit_(limit), thread_([this] { run(); }) {}

InodeTrimmer::~InodeTrimmer() {
  {
    std::lock_guard lock(mutex_);  // so that the wait cannot miss the notification
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void InodeTrimmer::run() {
  std::unique_lock lock(mutex_);
  while (
      !wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_.load(); })) {
    if (inodes_.size() <= limit_) continue;
    lock.unlock();
    // Down to 90 % of the limit, so that a long walk is trimmed in batches.
    auto victims = inodes_.least_recently_used(limit_ - limit_ / 10);
    std::size_t dropped = 0;
    for (const auto& [parent, name] : victims) {
      if (fuse_lowlevel_notify_inval_entry(session_, parent, name.c_str(), name.size()) == 0) {
        ++dropped;
      }
    }
    spdlog::debug("asked the kernel to drop {} of {} least recently used entries", dropped,
                  victims.size());
    malloc_trim(0);  // hand what the forgotten nodes used back to the system
    lock.lock();
  }
}

}  // namespace pbs::fs
