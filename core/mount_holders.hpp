// Who holds locks through a pbs-lockfs daemon. The kernel sees only the daemon holding the lock
// files; each daemon answers, on a Unix socket of its own, for every lock it holds: the lock
// file (device, inode) and the real requester. `pbs-lockctl list` and the other mounts on the
// same lock root ask it, so a lock taken through any mount is shown with its requester
// everywhere, whatever the number of holders, without going through a FUSE mount.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lock_holders.hpp"
#include "mutex.hpp"
#include "result.hpp"

namespace pbs {

/// One lock held through a daemon, for one of its handles.
struct MountHeldLock {
  dev_t device = 0;
  ino_t inode = 0;
  LockHolder holder;
};

/// The abstract Unix socket name (without the leading NUL) daemon `pid` answers on.
std::string mount_holders_socket_name(pid_t daemon);
/// That socket's address, for bind() and connect(); returns its length.
socklen_t mount_holders_address(pid_t daemon, sockaddr_un& address);

/// `dev=… ino=… ` + describe_holder(…): one line of the answer.
std::string format_mount_held(const MountHeldLock& held);
std::optional<MountHeldLock> parse_mount_held(std::string_view line);
/// The answer's last line: an answer without it was cut short and is not used.
inline constexpr std::string_view kMountHoldersEnd = "end";

/// Asks daemon `daemon` for the locks held through it. The answer is believed only from a
/// socket that process `daemon` itself listens on, running as one of `trusted_uids` (so no
/// other local user can pose as a daemon). ETIMEDOUT when it does not answer within `timeout`
/// (a stopped daemon); ECONNREFUSED when it has no such socket (not a daemon); EACCES when it
/// refused us.
Result<std::vector<MountHeldLock>> query_mount_holders(pid_t daemon,
                                                       const std::vector<uid_t>& trusted_uids,
                                                       std::chrono::milliseconds timeout);

/// Puts the real requesters in place of the daemons among `holders` (the direct holders of
/// one lock file, `device`/`inode`): each holder whose command is `pbs-lockfs` (other than
/// `self`) is asked; what it answers for this file replaces it. A daemon that does not answer
/// stays as it is (pid and command `pbs-lockfs`): its holders are not known. Answers are kept
/// for `max_age`, failures for at least a second, so that a listing asks each daemon once.
class MountHoldersResolver {
 public:
  MountHoldersResolver(std::vector<uid_t> trusted_uids, std::chrono::milliseconds max_age,
                       std::chrono::milliseconds timeout, pid_t self = 0)
      : trusted_(std::move(trusted_uids)), max_age_(max_age), timeout_(timeout), self_(self) {}

  void resolve(std::vector<LockHolder>& holders, dev_t device, ino_t inode);
  /// Why the daemons that did not answer did not (one line each), for a warning.
  std::vector<std::string> failures();

 private:
  struct Answer {
    std::chrono::steady_clock::time_point at;
    bool ok = false;
    std::vector<MountHeldLock> held;
    std::string error;
  };
  const Answer& answer_of(pid_t daemon) PBS_REQUIRES(mutex_);

  std::vector<uid_t> trusted_;
  std::chrono::milliseconds max_age_, timeout_;
  pid_t self_;
  Mutex mutex_;
  std::map<pid_t, Answer> answers_ PBS_GUARDED_BY(mutex_);
};

}  // namespace pbs
