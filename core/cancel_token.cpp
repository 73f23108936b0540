// CancelToken over eventfd.
#include "cancel_token.hpp"

#include <poll.h>
#include <sys/eventfd.h>

#include <cstdint>

namespace pbs {

CancelToken::CancelToken() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void CancelToken::cancel() const {
  cancelled_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = write(fd_.get(), &one, sizeof one);
}

bool CancelToken::cancelled() const {
  if (cancelled_) return true;
  pollfd p{fd_.get(), POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

}  // namespace pbs
