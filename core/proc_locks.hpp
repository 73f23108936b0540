// Reading /proc/locks: every flock(2) lock on the system, whoever took it (PBS's proxy,
// flock(1), the mount), matched to lock files by device and inode.
//
//   1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF       held
//   1: -> FLOCK  ADVISORY  READ  1240 00:1a:5678 0 EOF    waiting
//
// Major and minor are hex, the inode decimal. The pid is the process that took the lock; it may
// have exited since, leaving children that share the descriptor holding it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "result.hpp"

namespace pbs {

struct ProcLock {
  bool exclusive = false;
  bool waiting = false;
  pid_t pid = 0;
  dev_t device = 0;
  ino_t inode = 0;
};

/// The FLOCK lines of /proc/locks text (POSIX, OFD and lease lines are skipped).
std::vector<ProcLock> parse_proc_locks(std::string_view text);
/// Reads and parses /proc/locks.
Result<std::vector<ProcLock>> read_proc_locks();

/// What /proc tells about a process, as far as it is readable.
struct ProcessInfo {
  pid_t pid = 0;
  bool alive = false;
  uid_t uid = static_cast<uid_t>(-1);
  std::string command = "?";
  std::chrono::system_clock::time_point started;
};
ProcessInfo process_info(pid_t pid);

/// The processes that have a descriptor holding a flock on (`device`, `inode`), from the `lock:`
/// lines of /proc/<pid>/fdinfo/* (only readable for our own user's processes, or as root).
/// Finds the children that keep a lock after the process that took it has exited.
std::vector<pid_t> processes_sharing_lock(dev_t device, ino_t inode);

}  // namespace pbs
