// Handoff: one holder, one waiter. Time from the holder's close() to the waiter's blocking
// open() (through the mount) or flock() (direct) returning with the lock. Side by side in one
// run, interleaved: the same handoff between two direct flock(2) users of the real lock file.
//
//   handoff NODE LOCK_FILE [ITERATIONS]
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_setup.hpp"

namespace {

using pbs::bench::percentile;

using Clock = std::chrono::steady_clock;

// `take` blocks until the waiter has the lock and returns its descriptor.
template <typename Take>
double handoff(int holder, Take take) {
  Clock::time_point granted;
  std::thread waiter([&] {
    int fd = take();
    granted = Clock::now();
    if (fd >= 0) close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the waiter is waiting
  auto released = Clock::now();
  close(holder);
  waiter.join();
  return std::chrono::duration<double, std::micro>(granted - released).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: handoff NODE LOCK_FILE [ITERATIONS]\n");
    return 2;
  }
  const std::string node = argv[1], lock_file = argv[2];
  const int iterations = argc > 3 ? std::atoi(argv[3]) : 300;
  std::vector<double> mount, direct;
  for (int i = 0; i < iterations; ++i) {
    int holder = open(node.c_str(), O_RDWR | O_CLOEXEC);
    if (holder < 0) return std::perror(node.c_str()), 1;
    mount.push_back(handoff(holder, [&] { return open(node.c_str(), O_RDWR | O_CLOEXEC); }));

    holder = open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (holder < 0 || flock(holder, LOCK_EX) != 0) return std::perror(lock_file.c_str()), 1;
    direct.push_back(handoff(holder, [&] {
      int fd = open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
      flock(fd, LOCK_EX);
      return fd;
    }));
  }
  double m50 = percentile(mount, 0.5), m99 = percentile(mount, 0.99);
  double d50 = percentile(direct, 0.5), d99 = percentile(direct, 0.99);
  std::printf("%-30s %12s %12s\n", "handoff (us)", "median", "p99");
  std::printf("%-30s %12.1f %12.1f\n", "through the mount", m50, m99);
  std::printf("%-30s %12.1f %12.1f\n", "direct flock(2) (baseline)", d50, d99);
  char measured[64], baseline[64];
  std::snprintf(measured, sizeof measured, "%.1f us (p99 %.1f)", m50, m99);
  std::snprintf(baseline, sizeof baseline, "%.1f us (p99 %.1f)", d50, d99);
  pbs::bench::result_line("handoff close -> waiter's open, median", measured, baseline, m50 / d50,
                          "<= 3");
  return 0;
}
