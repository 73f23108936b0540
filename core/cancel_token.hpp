// CancelToken: lets another thread end a wait (an eventfd that waiters poll alongside their work).
#pragma once

#include <atomic>

#include "unique_fd.hpp"

namespace pbs {

class CancelToken {
 public:
  CancelToken();
  /// Ends every wait on this token, now and later. Safe from any thread.
  void cancel() const;
  bool cancelled() const;
  /// Readable once cancelled; -1 when no eventfd could be made (out of descriptors): then only
  /// cancelled() tells, which waiters also check on their backoff.
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  mutable std::atomic<bool> cancelled_{false};
};

}  // namespace pbs
