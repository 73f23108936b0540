// BlockedOpeners: N threads, each opening a node (shared, blocking) and closing it once it
// opened: the waiters of the waiting benchmarks. Small stacks, so that 10,000 of them fit.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace pbs::bench {

class BlockedOpeners {
 public:
  /// Starts `n` threads; thread i opens nodes[i % nodes.size()]. ok() is false when a thread
  /// could not be started.
  BlockedOpeners(const std::vector<std::string>& nodes, int n) : nodes_(nodes) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; ++i) {
      pthread_t t;
      auto* node = const_cast<char*>(nodes_[static_cast<std::size_t>(i) % nodes_.size()].c_str());
      if (pthread_create(&t, &attr, &open_and_close, node) != 0) break;
      threads_.push_back(t);
    }
    pthread_attr_destroy(&attr);
    ok_ = static_cast<int>(threads_.size()) == n;
  }
  BlockedOpeners(const BlockedOpeners&) = delete;
  BlockedOpeners& operator=(const BlockedOpeners&) = delete;
  ~BlockedOpeners() { join(); }

  bool ok() const { return ok_; }
  /// The errno of the last open that failed (0: none did).
  static std::atomic<int>& last_errno() {
    static std::atomic<int> value{0};
    return value;
  }
  /// Waits for every thread; returns how many opens succeeded.
  int join() {
    int served = 0;
    for (auto& t : threads_) {
      void* opened = nullptr;
      pthread_join(t, &opened);
      served += opened != nullptr;
    }
    threads_.clear();
    return served;
  }

 private:
  static void* open_and_close(void* path) {
    int fd = open(static_cast<const char*>(path), O_RDONLY | O_CLOEXEC);
    if (fd < 0) last_errno() = errno;
    if (fd >= 0) close(fd);
    return reinterpret_cast<void*>(static_cast<intptr_t>(fd >= 0));
  }

  std::vector<std::string> nodes_;
  std::vector<pthread_t> threads_;
  bool ok_ = false;
};

}  // namespace pbs::bench
