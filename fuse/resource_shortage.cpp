// Counting and logging resource shortages; see resource_shortage.hpp.
#include "resource_shortage.hpp"

#include <spdlog/spdlog.h>

namespace pbs::fs {

int ResourceShortage::answer(const Error& error, const std::string& what) {
  if (!is_resource_shortage(error.code)) return error.code;
  const std::uint64_t total = ++count_;
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const auto burst =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(10))
          .count();
  auto last = last_logged_.load();
  if (now.count() - last >= burst && last_logged_.compare_exchange_strong(last, now.count())) {
    spdlog::error(
        "{}: {} (the daemon is out of descriptors or memory; {} request(s) so far "
        "answered with this errno; raise LimitNOFILE or release locks)",
        what, error.message, total);
  }
  return error.code;
}

}  // namespace pbs::fs
