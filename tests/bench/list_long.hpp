// One `ls -l` as the benchmarks time it: readdir and lstat of every entry.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <string>

namespace pbs::bench {

/// Lists `dir` like `ls -l`; returns milliseconds, and the number of entries in `entries`.
inline double list_long(const std::string& dir, int* entries = nullptr) {
  auto start = std::chrono::steady_clock::now();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int count = 0;
  while (dirent* e = readdir(d)) {
    struct stat st {};
    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW);
    ++count;
  }
  closedir(d);
  if (entries != nullptr) *entries = count;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace pbs::bench
