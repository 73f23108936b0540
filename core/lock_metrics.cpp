// Lock metrics in the Prometheus text format; see lock_metrics.hpp.
#include "lock_metrics.hpp"

#include <charconv>
#include <cmath>

namespace pbs {
namespace {

std::string via_of(const LockEvent& e) {
  return e.via_mount ? "mount" : "direct";
}
std::string mode_of(const LockEvent& e) {
  return e.mode ? std::string(to_string(*e.mode)) : "unknown";
}
std::string kind_of(const LockEvent& e) {
  return std::string(to_string(e.object.kind));
}
double seconds_between(LockEvent::Time a, LockEvent::Time b) {
  return std::max(0.0, std::chrono::duration<double>(b - a).count());
}

// `{a="x",b="y"}` from name/value pairs.
std::string labels(std::initializer_list<std::pair<const char*, std::string>> pairs) {
  std::string out = "{";
  for (const auto& [name, value] : pairs) {
    if (out.size() > 1) out += ',';
    out += name;
    out += "=\"" + prometheus_label_value(value) + "\"";
  }
  return out + "}";
}

std::string number(double value) {
  if (std::isinf(value)) return "+Inf";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest exact
  return ec == std::errc() ? std::string(buffer, end) : "NaN";
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string prometheus_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void LockMetrics::Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++buckets[i];
      break;
    }
  }
  ++count;
  sum += seconds;
}

void LockMetrics::started(const LockEvent& e) {
  MutexLock lock(mutex_);
  const Key key{e.object.store, kind_of(e)};
  switch (e.type) {
    case LockEvent::Type::kHold:
      ++counts_.held[{e.object.store, kind_of(e), mode_of(e), via_of(e)}];
      break;
    case LockEvent::Type::kWait:
      if (e.via_mount) {
        ++counts_.waiting[key];
        ++counts_.waits_started[key];
      }
      break;
    case LockEvent::Type::kRefused:
      ++counts_.refused[{e.object.store, kind_of(e), via_of(e)}];
      break;
  }
}

void LockMetrics::ended(const LockEvent& e) {
  if (!e.end) return;
  MutexLock lock(mutex_);
  const Key key{e.object.store, kind_of(e)};
  const double seconds = seconds_between(e.start, *e.end);
  switch (e.type) {
    case LockEvent::Type::kHold: {
      auto found = counts_.held.find({e.object.store, kind_of(e), mode_of(e), via_of(e)});
      if (found != counts_.held.end() && --found->second <= 0) counts_.held.erase(found);
      counts_.hold_seconds[{e.object.store, kind_of(e), via_of(e)}].observe(seconds);
      break;
    }
    case LockEvent::Type::kWait: {
      if (!e.via_mount) {
        // A direct waiter that gave up is a refusal too (PBS's timed-out lock attempt).
        if (e.outcome != "granted") ++counts_.refused[{e.object.store, kind_of(e), "direct"}];
        break;
      }
      auto found = counts_.waiting.find(key);
      if (found != counts_.waiting.end() && --found->second <= 0) counts_.waiting.erase(found);
      ++counts_.waits_ended[{e.object.store, kind_of(e), e.outcome}];
      counts_.wait_seconds[key].observe(seconds);
      break;
    }
    case LockEvent::Type::kRefused:
      break;
  }
}

std::string LockMetrics::text(const Process& p) const {
  std::string out;
  MutexLock lock(mutex_);
  header(out, "pbs_lockfs_locks_held", "gauge",
         "Locks held now, through the mount or directly (PBS, flock(1)), by store, kind and mode.");
  for (const auto& [k, n] : counts_.held) {
    const auto& [store, kind, mode, via] = k;
    out += "pbs_lockfs_locks_held" +
           labels({{"store", store}, {"kind", kind}, {"mode", mode}, {"via", via}}) + " " +
           std::to_string(n) + "\n";
  }
  header(out, "pbs_lockfs_waiters", "gauge", "Requests waiting for a lock through the mount now.");
  for (const auto& [k, n] : counts_.waiting) {
    out += "pbs_lockfs_waiters" + labels({{"store", std::get<0>(k)}, {"kind", std::get<1>(k)}}) +
           " " + std::to_string(n) + "\n";
  }
  header(out, "pbs_lockfs_waits_started_total", "counter",
         "Waits for a busy lock through the mount that began.");
  for (const auto& [k, n] : counts_.waits_started) {
    out += "pbs_lockfs_waits_started_total" +
           labels({{"store", std::get<0>(k)}, {"kind", std::get<1>(k)}}) + " " + std::to_string(n) +
           "\n";
  }
  header(out, "pbs_lockfs_waits_ended_total", "counter",
         "Waits through the mount that ended, by outcome (granted, EINTR, ETIMEDOUT, EDEADLK, "
         "EBADF).");
  for (const auto& [k, n] : counts_.waits_ended) {
    const auto& [store, kind, outcome] = k;
    out += "pbs_lockfs_waits_ended_total" +
           labels({{"store", store}, {"kind", kind}, {"outcome", outcome}}) + " " +
           std::to_string(n) + "\n";
  }
  header(out, "pbs_lockfs_refused_total", "counter",
         "Lock attempts refused because the lock was busy: EWOULDBLOCK through the mount; for "
         "direct users an open and close of the lock file that took nothing while it was held, "
         "or a direct waiter that gave up.");
  for (const auto& [k, n] : counts_.refused) {
    const auto& [store, kind, via] = k;
    out += "pbs_lockfs_refused_total" + labels({{"store", store}, {"kind", kind}, {"via", via}}) +
           " " + std::to_string(n) + "\n";
  }
  auto histogram = [&](const std::string& name, const std::string& base_labels,
                       const Histogram& h) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kBuckets.size(); ++i) {
      cumulative += i < kBuckets.size() ? h.buckets[i] : 0;
      const double bound = i < kBuckets.size() ? kBuckets[i] : INFINITY;
      const std::uint64_t value = i < kBuckets.size() ? cumulative : h.count;
      out += name + "_bucket{" + base_labels + ",le=\"" + number(bound) + "\"} " +
             std::to_string(value) + "\n";
    }
    out += name + "_sum{" + base_labels + "} " + number(h.sum) + "\n";
    out += name + "_count{" + base_labels + "} " + std::to_string(h.count) + "\n";
  };
  header(out, "pbs_lockfs_wait_duration_seconds", "histogram",
         "How long waits through the mount lasted, whatever their outcome.");
  for (const auto& [k, h] : counts_.wait_seconds) {
    std::string l = labels({{"store", std::get<0>(k)}, {"kind", std::get<1>(k)}});
    histogram("pbs_lockfs_wait_duration_seconds", l.substr(1, l.size() - 2), h);
  }
  header(out, "pbs_lockfs_hold_duration_seconds", "histogram",
         "How long ended holds lasted, through the mount or directly.");
  for (const auto& [k, h] : counts_.hold_seconds) {
    const auto& [store, kind, via] = k;
    std::string l = labels({{"store", store}, {"kind", kind}, {"via", via}});
    histogram("pbs_lockfs_hold_duration_seconds", l.substr(1, l.size() - 2), h);
  }
  auto gauge = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
    header(out, name, type, help);
    out += std::string(name) + " " + std::to_string(value) + "\n";
  };
  gauge("pbs_lockfs_open_handles", "gauge", "Handles open through the mount.", p.open_handles);
  gauge("pbs_lockfs_waiting_requests", "gauge", "Opens and flocks waiting through the mount.",
        p.waiters);
  gauge("pbs_lockfs_file_descriptors", "gauge", "File descriptors the daemon has open.",
        p.file_descriptors);
  gauge("pbs_lockfs_inotify_watches", "gauge", "Lock directories the daemon watches.",
        p.inotify_watches);
  gauge("pbs_lockfs_resident_memory_bytes", "gauge", "The daemon's resident memory.",
        p.resident_bytes);
  gauge("pbs_lockfs_history_events", "gauge", "Lock events in the history ring.", p.history_events);
  gauge("pbs_lockfs_history_capacity_events", "gauge", "The history ring's capacity.",
        p.history_capacity);
  gauge("pbs_lockfs_history_dropped_events_total", "counter",
        "Lock events dropped from the full history ring.", p.history_dropped);
  return out;
}

LockMetrics::Counts LockMetrics::save() const {
  MutexLock lock(mutex_);
  return counts_;
}

void LockMetrics::restore(Counts counts) {
  MutexLock lock(mutex_);
  counts_ = std::move(counts);
}

}  // namespace pbs
