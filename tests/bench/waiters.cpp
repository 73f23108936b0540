// Many waiting opens: N threads open one node (shared, blocking) while the benchmark holds it
// exclusively. Reports the daemon's threads and RSS while they wait, `ls -l` of the group while
// they wait against the same listing idle (the baseline, same run), and how long it takes to
// serve them all once the holder lets go.
//
//   waiters NODE GROUP_DIR STATUS_FILE DAEMON_PID [N]
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "list_long.hpp"

namespace {

using pbs::bench::list_long;

using Clock = std::chrono::steady_clock;

long status_line(const std::string& file, const std::string& field) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

double median_listing(const std::string& dir) {
  std::vector<double> runs;
  for (int i = 0; i < 21; ++i)
    runs.push_back(list_long(dir));
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: waiters NODE GROUP_DIR STATUS_FILE DAEMON_PID [N]\n");
    return 2;
  }
  const std::string node = argv[1], group = argv[2], status = argv[3];
  const std::string proc = std::string("/proc/") + argv[4] + "/status";
  const int n = argc > 5 ? std::atoi(argv[5]) : 10000;

  long idle_threads = status_line(proc, "Threads:"), idle_rss = status_line(proc, "VmRSS:");
  double idle_listing = median_listing(group);
  int holder = open(node.c_str(), O_RDWR | O_CLOEXEC);
  if (holder < 0) return std::perror(node.c_str()), 1;

  std::vector<pthread_t> threads(n);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  auto body = [](void* p) -> void* {
    int fd = open(static_cast<const char*>(p), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    return reinterpret_cast<void*>(static_cast<intptr_t>(fd >= 0));
  };
  for (auto& t : threads) {
    if (pthread_create(&t, &attr, body, const_cast<char*>(node.c_str())) != 0) {
      std::fprintf(stderr, "cannot start %d threads\n", n);
      return 1;
    }
  }
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (status_line(status, "waiting: ") < n && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  long waiting = status_line(status, "waiting: ");
  long busy_threads = status_line(proc, "Threads:"), busy_rss = status_line(proc, "VmRSS:");
  double busy_listing = median_listing(group);

  auto released = Clock::now();
  close(holder);
  int served = 0;
  for (auto& t : threads) {
    void* ok;
    pthread_join(t, &ok);
    served += ok != nullptr;
  }
  double serve_ms = std::chrono::duration<double, std::milli>(Clock::now() - released).count();

  std::printf("%-36s %12s %12s %8s\n", std::to_string(n).append(" waiters on one lock").c_str(),
              "idle", "waiting", "ratio");
  std::printf("%-36s %12ld %12ld\n", "daemon threads", idle_threads, busy_threads);
  std::printf("%-36s %12ld %12ld\n", "daemon RSS (KiB)", idle_rss, busy_rss);
  std::printf("%-36s %12.3f %12.3f %8.2f\n", "ls -l of the group (ms, median)", idle_listing,
              busy_listing, busy_listing / idle_listing);
  std::printf("%-36s %12s %12ld\n", "waiting seen by the daemon", "", waiting);
  std::printf("%-36s %12s %12.1f\n", "all served after release (ms)", "", serve_ms);
  std::printf("%-36s %12s %12d\n", "opens that succeeded", "", served);
  return served == n ? 0 : 1;
}
