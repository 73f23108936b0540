// ProcessRef: a process pinned by a pidfd, and the /proc helpers around it (the process of a
// thread, a process's command). No FUSE here: requests name their caller by thread id, and the
// daemon turns it into a process with these.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "unique_fd.hpp"

namespace pbs::fs {

/// `/proc/<pid>/comm`, or "?" when unknown.
std::string process_command(pid_t pid);
/// The thread-group id (process id) of thread `tid`, from /proc (itself when unknown).
pid_t process_of(pid_t tid);

/// A process that opened a node, identified so that pid reuse cannot fool us: a pidfd refers
/// to that process and no other, and tells when it has exited (its pid may then belong to a new
/// process at any moment). The handles of one live process share one pidfd: a process holding
/// or waiting for 10,000 nodes costs the daemon 10,000 lock files, not 20,000 descriptors.
class ProcessRef {
 public:
  ProcessRef() = default;
  /// The process of thread `tid` (the caller of a FUSE request), pinned by a pidfd.
  static ProcessRef of_thread(pid_t tid);
  /// Process `pid` pinned by `pidfd`, a descriptor another program image of the daemon handed
  /// over (shared with the handles of the same process, as of_thread does).
  static ProcessRef adopt(pid_t pid, UniqueFd pidfd);

  /// The pinning descriptor, or -1 (none).
  int pidfd() const { return pidfd_ ? pidfd_->get() : -1; }

  pid_t pid() const { return pid_; }
  /// True while the process has not exited. Without a pidfd (another pid namespace, or the
  /// process was already gone when asked) the answer is false: nothing is decided on its pid.
  bool alive() const;
  /// Whether this process, still alive, is `pid` or one of its ancestors (following parent
  /// pids in /proc). A dead process is nobody's ancestor, whoever has its pid now.
  bool is_same_or_ancestor_of(pid_t pid) const;

 private:
  pid_t pid_ = 0;
  std::shared_ptr<const UniqueFd> pidfd_;
};

}  // namespace pbs::fs
