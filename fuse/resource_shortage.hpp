// ResourceShortage: the daemon ran out of descriptors or memory (EMFILE, ENFILE, ENOMEM). Such
// a request is answered with that errno, never as if a node did not exist; it is counted for
// the status file and logged at most once per burst (a full descriptor table fails every
// request for a while, and one line per request would flood the journal).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "result.hpp"

namespace pbs::fs {

class ResourceShortage {
 public:
  /// The errno to answer for `error` (its own code); counts and logs it when it is a shortage.
  int answer(const Error& error, const std::string& what);
  std::uint64_t count() const { return count_.load(); }

 private:
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::chrono::steady_clock::rep> last_logged_{0};
};

}  // namespace pbs::fs
