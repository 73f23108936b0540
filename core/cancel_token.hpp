// CancelToken: lets another thread end a wait (an eventfd that waiters poll alongside their work).
#pragma once

#include "unique_fd.hpp"

namespace pbs {

class CancelToken {
 public:
  CancelToken();
  /// Ends every wait on this token, now and later. Safe from any thread.
  void cancel() const;
  bool cancelled() const;
  /// Readable once cancelled.
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

}  // namespace pbs
