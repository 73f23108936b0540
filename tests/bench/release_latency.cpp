// Release latency: how long after close() returns is the real lock file lockable again?
// Side by side in one run, interleaved: a lock held through the mount (the kernel reports the
// last close to the daemon asynchronously) against the same lock held directly with flock(2).
//
//   release-latency NODE LOCK_FILE [ITERATIONS]
//
// Prints median and 99th percentile in microseconds for both, and their ratio.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_setup.hpp"

namespace {

using pbs::bench::percentile;

using Clock = std::chrono::steady_clock;

// Time from the holder's close() returning until a poller's flock(LOCK_EX|LOCK_NB) succeeds.
double until_lockable(int holder, int poller) {
  close(holder);
  auto closed = Clock::now();
  while (flock(poller, LOCK_EX | LOCK_NB) != 0) {
  }
  auto free = Clock::now();
  flock(poller, LOCK_UN);
  return std::chrono::duration<double, std::micro>(free - closed).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: release-latency NODE LOCK_FILE [ITERATIONS]\n");
    return 2;
  }
  const std::string node = argv[1], lock_file = argv[2];
  const int iterations = argc > 3 ? std::atoi(argv[3]) : 2000;
  int poller = open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (poller < 0) {
    std::perror(lock_file.c_str());
    return 1;
  }
  std::vector<double> mount, direct;
  for (int i = 0; i < iterations; ++i) {
    int through_mount = open(node.c_str(), O_RDWR | O_CLOEXEC);
    if (through_mount < 0) {
      std::perror(node.c_str());
      return 1;
    }
    mount.push_back(until_lockable(through_mount, poller));
    int held = open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
    flock(held, LOCK_EX);
    direct.push_back(until_lockable(held, poller));
  }
  std::printf("%-30s %12s %12s\n", "release latency (us)", "median", "p99");
  std::printf("%-30s %12.1f %12.1f\n", "through the mount", percentile(mount, 0.5),
              percentile(mount, 0.99));
  std::printf("%-30s %12.1f %12.1f\n", "direct flock(2) (baseline)", percentile(direct, 0.5),
              percentile(direct, 0.99));
  std::printf("%-30s %12.1f %12.1f\n", "difference",
              percentile(mount, 0.5) - percentile(direct, 0.5),
              percentile(mount, 0.99) - percentile(direct, 0.99));
  char measured[64], baseline[64];
  std::snprintf(measured, sizeof measured, "%.1f us (p99 %.1f)", percentile(mount, 0.5),
                percentile(mount, 0.99));
  std::snprintf(baseline, sizeof baseline, "%.1f us (p99 %.1f)", percentile(direct, 0.5),
                percentile(direct, 0.99));
  pbs::bench::result_line("release latency close -> lockable, median", measured, baseline,
                          percentile(mount, 0.5) / percentile(direct, 0.5), "-");
  return 0;
}
