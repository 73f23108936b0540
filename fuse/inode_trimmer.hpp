// InodeTrimmer: keeps the daemon's memory bounded however much of the tree is walked. The kernel
// keeps every inode it looked up until memory runs short, and the daemon must remember each one
// it was told about; past `limit` remembered nodes, this thread asks the kernel to drop the
// least recently used entries (fuse_lowlevel_notify_inval_entry), and the kernel's FORGETs then
// shrink the table. Never called from a request handler: the kernel takes directory locks.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "inode_table.hpp"

namespace pbs::fs {

class InodeTrimmer {
 public:
  InodeTrimmer(fuse_session* session, InodeTable& inodes, std::size_t limit);
  ~InodeTrimmer();
  InodeTrimmer(const InodeTrimmer&) = delete;
  InodeTrimmer& operator=(const InodeTrimmer&) = delete;

 private:
  void run();
  fuse_session* session_;
  InodeTable& inodes_;
  std::size_t limit_;
  std::mutex mutex_;  ///< the condition variable's; guards nothing else
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace pbs::fs
