// Waiting for a PBS lock without a thread blocked in flock(2): retry flock(LOCK_NB) whenever
// the lock file is closed somewhere (inotify), and on a backoff timer for the rest.
#pragma once

#include <chrono>
#include <optional>

#include "cancel_token.hpp"
#include "lock.hpp"

namespace pbs {

/// The longest pause between two attempts when nothing was seen to happen on the file.
inline constexpr std::chrono::milliseconds kMaxRecheckInterval{100};

/// Takes the lock, waiting until it is free. Ends with ETIMEDOUT after `timeout` (none: wait
/// for ever) and with ECANCELED once `cancel` fires. Never returns with the lock half-taken.
Result<Lock> lock_waiting(const LockRoot& root, LockRequest request,
                          std::optional<std::chrono::milliseconds> timeout,
                          const CancelToken* cancel = nullptr);

}  // namespace pbs
