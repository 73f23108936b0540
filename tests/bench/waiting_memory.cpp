// The daemon's memory while opens wait for a long time under `wait_timeout`: N threads open one
// node (blocking) while a child process holds it; the daemon's RSS is read after FIRST seconds and
// again after LAST seconds, then the holder lets go and every open must succeed. A daemon that
// scheduled a timer per re-check grew by about 1 KiB per second per waiting lock; flat is right.
//
//   waiting-memory MOUNT DAEMON_PID N FIRST_SECONDS LAST_SECONDS
// The mount must have been started with a wait_timeout longer than LAST_SECONDS.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_setup.hpp"
#include "blocked_openers.hpp"
#include "holder_process.hpp"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: waiting-memory MOUNT DAEMON_PID N FIRST_SECONDS LAST_SECONDS\n");
    return 2;
  }
  const std::string mount = argv[1];
  const std::string node = mount + "/store1/vm/100/2024-01-01T00:00:00Z";
  const std::string proc = std::string("/proc/") + argv[2] + "/status";
  const int n = std::atoi(argv[3]);
  const int first = std::atoi(argv[4]), last = std::atoi(argv[5]);
  pbs::bench::HolderProcess holder({node});
  if (!holder.ok()) return std::fprintf(stderr, "cannot hold %s\n", node.c_str()), 1;
  auto start = std::chrono::steady_clock::now();
  pbs::bench::BlockedOpeners openers({node}, n);
  if (!openers.ok()) return std::fprintf(stderr, "cannot start %d threads\n", n), 1;
  std::this_thread::sleep_until(start + std::chrono::seconds(first));
  const long early = pbs::bench::status_field(proc, "VmRSS:");
  const long early_timers = pbs::bench::status_field(mount + "/.pbs-lockfs", "timers: ");
  std::this_thread::sleep_until(start + std::chrono::seconds(last));
  const long late = pbs::bench::status_field(proc, "VmRSS:");
  const long late_timers = pbs::bench::status_field(mount + "/.pbs-lockfs", "timers: ");
  const long waiting = pbs::bench::status_field(mount + "/.pbs-lockfs", "waiting: ");
  holder.release();
  const int served = openers.join();
  std::printf(
      "%d opens waiting (daemon saw %ld): RSS %.1f MiB after %d s, %.1f MiB after %d s; "
      "timers %ld, then %ld; %d served\n",
      n, waiting, early / 1024.0, first, late / 1024.0, last, early_timers, late_timers, served);
  char measured[64], baseline[64];
  std::snprintf(measured, sizeof measured, "%.1f MiB after %d s", late / 1024.0, last);
  std::snprintf(baseline, sizeof baseline, "%.1f MiB after %d s", early / 1024.0, first);
  pbs::bench::result_line(std::to_string(n) + " opens waiting under wait_timeout: daemon RSS",
                          measured, baseline, double(late) / double(early), "<= 1.1");
  return served == n && waiting == n ? 0 : 1;
}
