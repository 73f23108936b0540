// Handoff: one holder (a child process), one waiter. Time from the holder's close() to the
// waiter's blocking open() (through the mount) or flock() (direct) returning with the lock. Side by
// side in one run, interleaved: the same handoff between two direct flock(2) users of the real lock
// file.
//
//   handoff NODE LOCK_FILE [ITERATIONS]
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
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

// `hold` (in a child process) takes the lock and returns its descriptor; `take` (in a thread of
// this process) blocks until the waiter has the lock and returns its descriptor. The holder is a
// child, not an ancestor, of the waiter: the daemon refuses a wait for one's own (or an
// ancestor's) hold with EDEADLK. Both read the same monotonic clock.
template <typename Hold, typename Take>
double handoff(Hold hold, Take take) {
  int ready[2], go[2], released_at[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0 ||
      pipe2(released_at, O_CLOEXEC) != 0) {
    return -1;
  }
  pid_t child = fork();
  if (child == 0) {
    int holder = hold();
    char byte = holder >= 0;
    if (write(ready[1], &byte, 1) != 1 || holder < 0) _exit(1);
    if (read(go[0], &byte, 1) != 1) _exit(1);
    auto released = Clock::now().time_since_epoch().count();
    close(holder);
    if (write(released_at[1], &released, sizeof released) != sizeof released) _exit(1);
    // Exit only once the waiter has the lock: tearing down this process takes a CPU that the
    // daemon's threads need on a 2-core machine, and would be timed as part of the handoff.
    [[maybe_unused]] auto n = read(go[0], &byte, 1);
    _exit(0);
  }
  char byte = 0;
  if (child < 0 || read(ready[0], &byte, 1) != 1 || byte != 1) return -1;
  Clock::time_point granted;
  std::thread waiter([&] {
    int fd = take();
    granted = Clock::now();
    if (fd >= 0) close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the waiter is waiting
  [[maybe_unused]] auto n = write(go[1], &byte, 1);
  Clock::rep released = 0;
  n = read(released_at[0], &released, sizeof released);
  waiter.join();
  n = write(go[1], &byte, 1);
  waitpid(child, nullptr, 0);
  for (int fd : {ready[0], ready[1], go[0], go[1], released_at[0], released_at[1]})
    close(fd);
  return std::chrono::duration<double, std::micro>(granted -
                                                   Clock::time_point(Clock::duration(released)))
      .count();
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
  auto open_node = [&] { return open(node.c_str(), O_RDWR | O_CLOEXEC); };
  auto flock_file = [&] {
    int fd = open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  };
  for (int i = 0; i < iterations; ++i) {
    double m = handoff(open_node, open_node);
    double d = handoff(flock_file, flock_file);
    if (m < 0 || d < 0) return std::fprintf(stderr, "handoff failed\n"), 1;
    mount.push_back(m);
    direct.push_back(d);
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
