// LockMetrics: counters, gauges and histograms of lock activity, by store and kind (and mode,
// via, outcome where it matters), fed with every lock event as it starts and ends, and written
// in the Prometheus text format (version 0.0.4) that Prometheus and node_exporter's textfile
// collector read:
//
//   # HELP pbs_lockfs_locks_held Locks held now.
//   # TYPE pbs_lockfs_locks_held gauge
//   pbs_lockfs_locks_held{store="store1",kind="snapshot",mode="exclusive",via="direct"} 1
//
// Names follow Prometheus's conventions (prefix pbs_lockfs_, base units, _total for counters,
// _seconds for durations); label values are escaped as the format requires.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "lock_event.hpp"
#include "mutex.hpp"

namespace pbs {

class LockMetrics {
 public:
  /// Upper bounds (seconds) of the duration histograms' buckets (+Inf besides).
  static constexpr std::array<double, 12> kBuckets{0.001, 0.01, 0.1, 0.5, 1,    5,
                                                   30,    60,   300, 900, 3600, 14400};

  /// A hold or wait began, or a refusal happened (refusals are counted here, once).
  void started(const LockEvent& event);
  /// A hold or wait ended (`event` with its end and outcome).
  void ended(const LockEvent& event);

  /// Values about the daemon itself, read when the metrics are written.
  struct Process {
    std::uint64_t open_handles = 0;
    std::uint64_t waiters = 0;
    std::uint64_t file_descriptors = 0;
    std::uint64_t inotify_watches = 0;
    std::uint64_t resident_bytes = 0;
    std::uint64_t history_events = 0;
    std::uint64_t history_capacity = 0;
    std::uint64_t history_dropped = 0;
  };
  /// Every metric, in the text format, each with its HELP and TYPE line.
  std::string text(const Process& process) const;

  using Key = std::tuple<std::string, std::string>;                // store, kind
  using Key3 = std::tuple<std::string, std::string, std::string>;  // store, kind, …
  using Key4 = std::tuple<std::string, std::string, std::string, std::string>;
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};  ///< not cumulative; text() sums
    std::uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
  };
  /// Every gauge, counter and histogram: what an upgrade in place of the daemon hands to the
  /// next program image.
  struct Counts {
    std::map<Key4, std::int64_t> held;  ///< store, kind, mode, via -> locks held now
    std::map<Key, std::int64_t> waiting;
    std::map<Key, std::uint64_t> waits_started;
    std::map<Key3, std::uint64_t> waits_ended;  ///< store, kind, outcome -> waits ended
    std::map<Key3, std::uint64_t> refused;      ///< store, kind, via -> refused attempts
    std::map<Key, Histogram> wait_seconds;
    std::map<Key3, Histogram> hold_seconds;  ///< store, kind, via -> hold durations
  };
  Counts save() const;
  void restore(Counts counts);

 private:
  mutable Mutex mutex_;
  Counts counts_ PBS_GUARDED_BY(mutex_);
};

/// A label value as the text format writes it: `\` `"` and newline escaped.
std::string prometheus_label_value(std::string_view value);

}  // namespace pbs
