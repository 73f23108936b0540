// ProcessRef and the /proc helpers; see process_ref.hpp.
#include "process_ref.hpp"

#include "mutex.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
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

namespace {

bool exited(int pidfd) {
  // A pidfd becomes readable when its process exits.
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}

/// The pidfds of live processes that opened nodes, shared by their handles. An entry is used
/// only while its process has not exited: a pid whose process exited may name a new process.
class SharedPidfds {
 public:
  std::shared_ptr<const UniqueFd> find(pid_t pid) {
    MutexLock lock(mutex_);
    auto found = by_pid_.find(pid);
    if (found == by_pid_.end()) return nullptr;
    auto pidfd = found->second.lock();
    if (!pidfd || exited(pidfd->get())) return nullptr;
    return pidfd;
  }
  std::shared_ptr<const UniqueFd> add(pid_t pid, UniqueFd fd) {
    auto pidfd = std::make_shared<const UniqueFd>(std::move(fd));
    MutexLock lock(mutex_);
    by_pid_[pid] = pidfd;
    if (by_pid_.size() >= 2 * swept_size_) {  // forget the processes nobody refers to any more
      std::erase_if(by_pid_, [](const auto& entry) { return entry.second.expired(); });
      swept_size_ = std::max<std::size_t>(by_pid_.size(), 512);
    }
    return pidfd;
  }

 private:
  Mutex mutex_;
  std::unordered_map<pid_t, std::weak_ptr<const UniqueFd>> by_pid_ PBS_GUARDED_BY(mutex_);
  std::size_t swept_size_ PBS_GUARDED_BY(mutex_) = 512;
};

SharedPidfds& shared_pidfds() {
  static SharedPidfds pidfds;
  return pidfds;
}

}  // namespace

ProcessRef ProcessRef::adopt(pid_t pid, UniqueFd pidfd) {
  ProcessRef ref;
  ref.pid_ = pid;
  if (!pidfd) return ref;
  if (auto known = shared_pidfds().find(pid)) {
    ref.pidfd_ = std::move(known);  // the same process: its other handles' descriptor
  } else {
    ref.pidfd_ = shared_pidfds().add(pid, std::move(pidfd));
  }
  return ref;
}

ProcessRef ProcessRef::of_thread(pid_t tid) {
  ProcessRef ref;
  if (tid <= 0) return ref;
  // A live process known by this id: the caller is it (no thread of another process can have
  // the id of a live process). Most callers are single-threaded or call from their main thread.
  if (auto known = shared_pidfds().find(tid)) {
    ref.pid_ = tid;
    ref.pidfd_ = std::move(known);
    return ref;
  }
  // pidfd_open() accepts only a thread-group leader: one syscall names the process; a thread
  // costs a /proc lookup.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid, 0));
  if (pidfd >= 0) {
    ref.pid_ = tid;
    ref.pidfd_ = shared_pidfds().add(tid, UniqueFd(pidfd));
    return ref;
  }
  ref.pid_ = process_of_thread(tid);  // not a leader: no second pidfd_open of tid
  if (auto known = shared_pidfds().find(ref.pid_)) {
    ref.pidfd_ = std::move(known);
    return ref;
  }
  pidfd = static_cast<int>(syscall(SYS_pidfd_open, ref.pid_, 0));
  if (pidfd >= 0) ref.pidfd_ = shared_pidfds().add(ref.pid_, UniqueFd(pidfd));
  return ref;
}

bool ProcessRef::alive() const {
  return pidfd_ && *pidfd_ && !exited(pidfd_->get());
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
