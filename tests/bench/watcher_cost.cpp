// What watching the lock tree costs: the same daemon with and without the watcher (watch=no),
// side by side and interleaved in one run, each on a lock root of its own.
//
//   watcher-cost WATCHED_MNT UNWATCHED_MNT WATCHED_PID UNWATCHED_PID WATCHED_LOCK_FILE
//                UNWATCHED_LOCK_FILE [ROUNDS]
//
// Rows (RESULT lines for tools/bench): the uncontended open+close of a snapshot node, `ls -l`
// (readdir + lstat) of a group, both watched / unwatched; and the daemon CPU that 1,000 direct
// lock cycles per second (open, flock, close of a lock file, as PBS takes its locks) cost each.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_setup.hpp"
#include "list_long.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using pbs::bench::percentile;

// Microseconds per open+close of `node`, over `n` cycles.
double cycle_us(const std::string& node, int n) {
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    int fd = open(node.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::perror(node.c_str());
      std::exit(1);
    }
    close(fd);
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
}

// User + system CPU seconds of process `pid` so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Daemon `pid`'s CPU (percent of one core) while this process takes and releases the lock
// `lock_file` directly `rate` times per second for `seconds`.
double cpu_under_direct_locks(pid_t pid, const std::string& lock_file, int rate, int seconds) {
  const double before = cpu_seconds(pid);
  const auto start = Clock::now();
  const auto period = std::chrono::microseconds(1000000 / rate);
  for (int i = 0; i < rate * seconds; ++i) {
    int fd = open(lock_file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      flock(fd, LOCK_EX | LOCK_NB);
      close(fd);
    }
    std::this_thread::sleep_until(start + (i + 1) * period);
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  return 100 * (cpu_seconds(pid) - before) / wall;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr,
                 "usage: watcher-cost WATCHED_MNT UNWATCHED_MNT WATCHED_PID UNWATCHED_PID "
                 "WATCHED_LOCK_FILE UNWATCHED_LOCK_FILE [ROUNDS]\n");
    return 2;
  }
  const std::string watched = argv[1], unwatched = argv[2];
  const pid_t watched_pid = std::atoi(argv[3]), unwatched_pid = std::atoi(argv[4]);
  const std::string watched_file = argv[5], unwatched_file = argv[6];
  const int rounds = argc > 7 ? std::atoi(argv[7]) : 21;
  const std::string node = "/store1/vm/100/2024-01-01T00:00:00Z", group = "/store1/ct/1000";

  std::vector<double> cycle_w, cycle_u, list_w, list_u;
  for (int r = 0; r < rounds; ++r) {
    cycle_w.push_back(cycle_us(watched + node, 2000));
    cycle_u.push_back(cycle_us(unwatched + node, 2000));
    list_u.push_back(pbs::bench::list_long(unwatched + group));
    list_w.push_back(pbs::bench::list_long(watched + group));
  }
  const double cw = percentile(cycle_w, 0.5), cu = percentile(cycle_u, 0.5);
  const double lw = percentile(list_w, 0.5), lu = percentile(list_u, 0.5);
  std::printf("uncontended cycle: %.1f us watched, %.1f us unwatched\n", cw, cu);
  std::printf("ls -l of 1000 snapshots: %.2f ms watched, %.2f ms unwatched\n", lw, lu);
  std::printf(
      "RESULT|watcher: uncontended cycle, watched / unwatched|%.1f us|%.1f us|%.2f|<= 1.05\n", cw,
      cu, cw / cu);
  std::printf(
      "RESULT|watcher: ls -l of 1000 snapshots, watched / unwatched|%.2f ms|%.2f ms|%.2f|"
      "<= 1.05\n",
      lw, lu, lw / lu);
  const int seconds = 10;
  const double busy_w = cpu_under_direct_locks(watched_pid, watched_file, 1000, seconds);
  const double busy_u = cpu_under_direct_locks(unwatched_pid, unwatched_file, 1000, seconds);
  std::printf("daemon CPU with 1000 direct lock cycles/s: %.1f %% watched, %.1f %% unwatched\n",
              busy_w, busy_u);
  std::printf(
      "RESULT|watcher: daemon CPU, 1000 direct lock cycles/s|%.1f %%|%.1f %% unwatched|"
      "%.2f|report\n",
      busy_w, busy_u, busy_u > 0 ? busy_w / busy_u : 0.0);
  return 0;
}
