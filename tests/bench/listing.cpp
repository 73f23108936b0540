// `ls -l` cost: coreutils `ls -l` of a group through the mount (live lock state) against
// `ls -l` of the group's directory in the datastore, and the bare readdir plus lstat of every
// entry the same way, interleaved in one run.
//
//   listing MOUNT_GROUP_DIR DATASTORE_GROUP_DIR RUNS SNAPSHOTS [SUFFIX]
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_setup.hpp"
#include "list_long.hpp"

namespace {

using pbs::bench::percentile;

using pbs::bench::list_long;

using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: listing MOUNT_GROUP_DIR DATASTORE_GROUP_DIR [RUNS]\n");
    return 2;
  }
  const int runs = argc > 3 ? std::atoi(argv[3]) : 21;
  std::vector<double> mount, direct, ls_mount, ls_direct;
  int mount_entries = 0, direct_entries = 0;
  for (int i = 0; i < runs; ++i) {
    mount.push_back(list_long(argv[1], &mount_entries));
    direct.push_back(list_long(argv[2], &direct_entries));
    ls_mount.push_back(pbs::bench::coreutils_ls_long(argv[1]));
    ls_direct.push_back(pbs::bench::coreutils_ls_long(argv[2]));
  }
  // SUFFIX names the circumstances, e.g. ", a direct holder on the lock root's filesystem".
  const std::string size =
      std::string(argc > 4 ? argv[4] : "?") + " snapshots" + (argc > 5 ? argv[5] : "");
  {
    double m = percentile(ls_mount, 0.5), d = percentile(ls_direct, 0.5);
    std::printf("%-44s %10s %10s %8s\n", "coreutils ls -l (ms, median)", "mount", "datastore",
                "ratio");
    std::printf("%-44s %10.2f %10.2f %8.2f\n", "", m, d, m / d);
    char measured[64], baseline[64];
    std::snprintf(measured, sizeof measured, "%.2f ms (%d entries)", m, mount_entries);
    std::snprintf(baseline, sizeof baseline, "%.2f ms (%d entries)", d, direct_entries);
    pbs::bench::result_line("coreutils ls -l of a group of " + size, measured, baseline, m / d,
                            "<= 2");
  }
  double m = percentile(mount, 0.5), d = percentile(direct, 0.5);
  std::printf("%-44s %10s %10s %8s\n", "ls -l (ms, median)", "mount", "datastore", "ratio");
  std::printf(
      "%-44s %10.2f %10.2f %8.2f\n",
      (std::to_string(mount_entries) + " entries vs " + std::to_string(direct_entries)).c_str(), m,
      d, m / d);
  char measured[64], baseline[64];
  std::snprintf(measured, sizeof measured, "%.2f ms (%d entries)", m, mount_entries);
  std::snprintf(baseline, sizeof baseline, "%.2f ms (%d entries)", d, direct_entries);
  pbs::bench::result_line("readdir + lstat of a group of " + size, measured, baseline, m / d, "-");
  return 0;
}
