// Uncontended lock cycle and throughput (Google Benchmark), each against its baselines in the
// same run:
//   cycle/<mode>: open+close of a snapshot node (the lock through the mount), interleaved per
//     iteration with (a) PBS's acquire+release done directly by the core library and (b) open+
//     close of the mount's status file, which takes no lock (the FUSE floor). Counters are
//     medians in microseconds; tools/bench reports mount / (direct + floor).
//   throughput/{mount,direct}: N threads each cycling its own snapshot lock; cycles per second.
//   throughput/floor: the same threads opening and closing the status file (no lock).
// The mount's release is asynchronous (the kernel sends it after close() returns), so every
// mount loop turns over several snapshots: an open should not race its own previous release.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "bench_setup.hpp"

namespace pbs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// The big group tools/bench generates: vm/901 with 2 snapshots per client thread.
std::string snapshot(int index) {
  char time[32];
  std::snprintf(time, sizeof time, "2021-01-01T%02d:%02d:00Z", index / 60, index % 60);
  return "vm/901/" + std::string(time);
}

bool open_close(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

void cycle(benchmark::State& state, int flags, LockMode mode) {
  // 32 nodes in turn: the kernel's release of an open comes after close() returns (p99 up
  // to ~100 us here, a millisecond when the VM stalls), and an O_NONBLOCK open must not meet
  // its own previous hold.
  std::vector<std::string> nodes;
  for (int n = 0; n < 32; ++n)
    nodes.push_back(mount_node(snapshot(n)));
  const std::string direct = snapshot(32);
  const std::string floor = setting("MNT") + "/.pbs-lockfs";
  std::vector<double> mount_us, direct_us, floor_us;
  int i = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    const bool mount_ok = open_close(nodes[i++ % nodes.size()], flags);
    const int mount_errno = errno;
    auto t1 = Clock::now();
    const bool direct_ok = direct_cycle(direct, mode);
    auto t2 = Clock::now();
    const bool floor_ok = open_close(floor, O_RDONLY);
    auto t3 = Clock::now();
    if (!mount_ok || !direct_ok || !floor_ok) {
      std::string failed =
          !mount_ok    ? "the open through the mount: " + std::string(std::strerror(mount_errno))
          : !direct_ok ? "the direct lock"
                       : "the floor's open";
      state.SkipWithError(("a lock cycle failed: " + failed).c_str());
      break;
    }
    mount_us.push_back(micros(t0, t1));
    direct_us.push_back(micros(t1, t2));
    floor_us.push_back(micros(t2, t3));
  }
  state.counters["mount_us"] = percentile(mount_us, 0.5);
  state.counters["direct_us"] = percentile(direct_us, 0.5);
  state.counters["floor_us"] = percentile(floor_us, 0.5);
  state.counters["ratio"] =
      percentile(mount_us, 0.5) / (percentile(direct_us, 0.5) + percentile(floor_us, 0.5));
}

void throughput_mount(benchmark::State& state) {
  const std::string nodes[2] = {mount_node(snapshot(2 * state.thread_index())),
                                mount_node(snapshot(2 * state.thread_index() + 1))};
  int i = 0;
  for (auto _ : state) {
    if (!open_close(nodes[i++ % 2], O_RDWR)) {
      state.SkipWithError("open failed");
      break;
    }
  }
  state.counters["cycles_per_s"] =
      benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
}

// The FUSE floor's throughput: the same threads opening and closing the status file (no lock).
void throughput_floor(benchmark::State& state) {
  const std::string floor = setting("MNT") + "/.pbs-lockfs";
  for (auto _ : state) {
    if (!open_close(floor, O_RDONLY)) {
      state.SkipWithError("open failed");
      break;
    }
  }
  state.counters["cycles_per_s"] =
      benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
}

void throughput_direct(benchmark::State& state) {
  const std::string own = snapshot(2 * state.thread_index());
  for (auto _ : state) {
    if (!direct_cycle(own, LockMode::kExclusive)) {
      state.SkipWithError("lock failed");
      break;
    }
  }
  state.counters["cycles_per_s"] =
      benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(cycle, shared, O_RDONLY, LockMode::kShared)->Iterations(5000);
BENCHMARK_CAPTURE(cycle, exclusive, O_RDWR, LockMode::kExclusive)->Iterations(5000);
BENCHMARK_CAPTURE(cycle, nonblocking, O_RDWR | O_NONBLOCK, LockMode::kExclusive)->Iterations(5000);
// 1 to 64 client threads, each cycling its own snapshot, timed by the wall clock.
void client_threads(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2, 4, 16, 64})
    b->Threads(threads);
  b->UseRealTime()->MinTime(1.0);
}

BENCHMARK(throughput_mount)->Apply(client_threads);
BENCHMARK(throughput_floor)->Apply(client_threads);
BENCHMARK(throughput_direct)->Apply(client_threads);

}  // namespace
}  // namespace pbs::bench

BENCHMARK_MAIN();
