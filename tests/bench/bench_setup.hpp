// What the Google Benchmark programs share: where the mount and the lock root are (from the
// environment tools/bench sets), the core library's direct lock as the baseline, and the
// machine-readable result lines that tools/bench gathers into its one table.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "lock.hpp"
#include "lock_root.hpp"

namespace pbs::bench {

/// $PBS_LOCKFS_BENCH_<name>, or exits with a message.
inline std::string setting(const char* name) {
  std::string key = std::string("PBS_LOCKFS_BENCH_") + name;
  const char* value = std::getenv(key.c_str());
  if (value == nullptr) {
    std::fprintf(stderr, "%s is not set (tools/bench sets it)\n", key.c_str());
    std::exit(2);
  }
  return value;
}

/// The mountpoint's node of snapshot `snapshot` (TYPE/ID/TIME) in store1.
inline std::string mount_node(const std::string& snapshot) {
  return setting("MNT") + "/store1/" + snapshot;
}

/// The lock root, opened as the daemon opens it.
inline const LockRoot& lock_root() {
  static std::optional<LockRoot> root = [] {
    auto owner = Owner::lookup("backup", "backup");
    auto opened = LockRoot::open(setting("LOCK_ROOT"), *owner);
    if (!opened) {
      std::fprintf(stderr, "lock root: %s\n", opened.error().message.c_str());
      std::exit(1);
    }
    return std::optional<LockRoot>(std::move(*opened));
  }();
  return *root;
}

/// PBS's acquire + release of `snapshot` in store1, done directly by the core library.
inline bool direct_cycle(const std::string& snapshot, LockMode mode) {
  auto object = LockObject::parse("store1", {}, snapshot, false);
  auto lock = try_lock(lock_root(), LockRequest{*object, mode, "", true});
  return lock.ok();  // released when it goes out of scope
}

/// The `p` quantile (0.5: median) of `values`.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

/// The number after `field` on its line of `file` (`/proc/PID/status` "VmRSS:", the status
/// file's "waiting: "), or -1.
inline long status_field(const std::string& file, const std::string& field) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

/// One row of tools/bench's summary table: "RESULT|row|measured|baseline|ratio|target".
inline void result_line(const std::string& row, const std::string& measured,
                        const std::string& baseline, double ratio, const std::string& target) {
  std::printf("RESULT|%s|%s|%s|%.2f|%s\n", row.c_str(), measured.c_str(), baseline.c_str(), ratio,
              target.c_str());
  std::fflush(stdout);
}

}  // namespace pbs::bench
