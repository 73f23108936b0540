// Caller: who sent a FUSE request (pid, uid, gid, groups, command), and whether they may lock.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "process_ref.hpp"
#include "request.hpp"
#include "unique_fd.hpp"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

namespace pbs::fs {

struct Caller {
  /// The calling thread's id as FUSE reports it (0: another pid namespace); process_of() gives
  /// its process.
  pid_t tid = 0;
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

}  // namespace pbs::fs
