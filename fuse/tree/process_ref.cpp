// ProcessRef and the /proc helpers; see process_ref.hpp.
#include "process_ref.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <unordered_map>

namespace pbs::fs {

std::string process_command(pid_t pid) {
  if (pid <= 0) return "?";
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  if (!std::getline(in, comm) || comm.empty()) return "?";
  return comm;
}

namespace {

// A field of /proc/<pid>/status ("Tgid:", "PPid:"), or -1.
pid_t status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return static_cast<pid_t>(std::stol(line.substr(field.size())));
  }
  return -1;
}

// The process of `tid`, a thread that is not a thread-group leader (itself when unknown). Its
// answer is remembered per worker thread (no lock) and checked with one stat:
// /proc/<tgid>/task/<tid> exists only while tid is a thread of tgid, so a reused thread id is
// never attributed to the old process.
pid_t process_of_thread(pid_t tid) {
  thread_local std::unordered_map<pid_t, pid_t> known;
  if (auto found = known.find(tid); found != known.end()) {
    struct stat st {};
    std::string task = "/proc/" + std::to_string(found->second) + "/task/" + std::to_string(tid);
    if (stat(task.c_str(), &st) == 0) return found->second;
    known.erase(found);
  }
  pid_t tgid = status_field(tid, "Tgid:");
  if (tgid <= 0) return tid;
  if (known.size() >= 4096) known.clear();
  known.emplace(tid, tgid);
  return tgid;
}

}  // namespace

pid_t process_of(pid_t tid) {
  if (tid <= 0) return tid;
  // Most callers are single-threaded or call from their main thread: pidfd_open() accepts only
  // a thread-group leader, one cheap syscall instead of rendering /proc/<tid>/status.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid, 0));
  if (pidfd >= 0) {
    close(pidfd);
    return tid;
  }
  return process_of_thread(tid);
}

ProcessRef ProcessRef::of_thread(pid_t tid) {
  ProcessRef ref;
  if (tid <= 0) return ref;
  // pidfd_open() accepts only a thread-group leader: most callers are single-threaded or call
  // from their main thread, so one syscall names the process; a thread costs a /proc lookup.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid, 0));
  if (pidfd >= 0) {
    ref.pid_ = tid;
    ref.pidfd_.reset(pidfd);
    return ref;
  }
  ref.pid_ = process_of_thread(tid);  // not a leader: no second pidfd_open of tid
  pidfd = static_cast<int>(syscall(SYS_pidfd_open, ref.pid_, 0));
  if (pidfd >= 0) ref.pidfd_.reset(pidfd);
  return ref;
}

bool ProcessRef::alive() const {
  if (!pidfd_) return false;
  // A pidfd becomes readable when its process exits.
  pollfd p{pidfd_.get(), POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

bool ProcessRef::is_same_or_ancestor_of(pid_t pid) const {
  if (pid_ <= 0) return false;
  bool found = false;
  for (int depth = 0; pid > 1 && depth < 64 && !found; ++depth) {
    found = pid == pid_;
    if (!found) pid = status_field(pid, "PPid:");
  }
  // Checked after the walk: if the process is alive now, it was alive during the walk, and the
  // pid we met was its own, not a reused one.
  return found && alive();
}

}  // namespace pbs::fs
