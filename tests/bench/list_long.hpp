// One `ls -l` as the benchmarks time it: readdir and lstat of every entry.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

namespace pbs::bench {

/// Lists `dir` like `ls -l`; returns milliseconds, and the number of entries in `entries`.
inline double list_long(const std::string& dir, int* entries = nullptr) {
  auto start = std::chrono::steady_clock::now();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  std::vector<std::string> names;  // like ls: read the whole directory, then stat each entry
  while (dirent* e = readdir(d))
    names.emplace_back(e->d_name);
  for (const auto& name : names) {
    struct stat st {};
    fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  }
  closedir(d);
  if (entries != nullptr) *entries = static_cast<int>(names.size());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace pbs::bench
