// One `ls -l` as the benchmarks time it: readdir and lstat of every entry (list_long), and the
// real thing, coreutils `ls -l` (coreutils_ls_long), which also asks for two extended
// attributes per entry and sorts.
#pragma once

#include <spawn.h>
#include <sys/wait.h>

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

/// Runs `ls -l DIR` (coreutils, output to /dev/null); returns milliseconds, or -1 on failure.
inline double coreutils_ls_long(const std::string& dir) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args{"ls", "-l", "--color=never", dir};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "ls", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace pbs::bench
