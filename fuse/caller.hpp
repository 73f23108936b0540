// Caller: who sent a FUSE request (pid, uid, gid, groups, command), and whether they may lock.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "request.hpp"
#include "unique_fd.hpp"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

namespace pbs::fs {

struct Caller {
  pid_t pid = 0;  ///< the caller's thread id as FUSE reports it (0: another pid namespace)
  uid_t uid = 0;
  gid_t gid = 0;

  static Caller of(fuse_req_t req);
  static Caller of(const Request& req) { return of(req.get()); }
  /// A process met outside FUSE (a socket peer): its supplementary groups are read from
  /// /proc/<pid>/status (none when unreadable).
  static Caller of_process(pid_t pid, uid_t uid, gid_t gid);
  /// Supplementary groups, read from /proc only when asked (an expensive read; root, backup
  /// and members by primary group never need it). Only while the request is being handled.
  const std::vector<gid_t>& groups() const;
  /// `/proc/<pid>/comm`, or "?" when unknown.
  std::string command() const;
  /// "pid 1234 (flock) uid 1000", for log lines.
  std::string describe() const;

 private:
  fuse_req_t req_ = nullptr;
  mutable std::optional<std::vector<gid_t>> groups_;
};

/// Who may take, convert and remove locks: root, the backup user, members of the lock group.
struct AccessPolicy {
  uid_t backup_uid = 0;
  gid_t lock_gid = 0;
  bool public_listing = false;

  bool may_lock(const Caller& caller) const;
  bool may_list(const Caller& caller) const { return public_listing || may_lock(caller); }
};

/// `/proc/<pid>/comm`, or "?" when unknown.
std::string process_command(pid_t pid);
/// The thread-group id (process id) of thread `tid`, from /proc (itself when unknown).
pid_t process_of(pid_t tid);

/// A process that opened a node, identified so that pid reuse cannot fool us: a pidfd refers
/// to that process and no other, and tells when it has exited (its pid may then belong to a new
/// process at any moment).
class ProcessRef {
 public:
  ProcessRef() = default;
  /// The process of thread `tid` (the caller of a FUSE request), pinned by a pidfd.
  static ProcessRef of_thread(pid_t tid);

  pid_t pid() const { return pid_; }
  /// True while the process has not exited. Without a pidfd (another pid namespace, or the
  /// process was already gone when asked) the answer is false: nothing is decided on its pid.
  bool alive() const;
  /// Whether this process, still alive, is `pid` or one of its ancestors (following parent
  /// pids in /proc). A dead process is nobody's ancestor, whoever has its pid now.
  bool is_same_or_ancestor_of(pid_t pid) const;

 private:
  pid_t pid_ = 0;
  UniqueFd pidfd_;
};

}  // namespace pbs::fs
