// Privilege drop; see privileges.hpp.
#include "privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

namespace pbs::fs {

Result<void> drop_privileges(const std::string& user) {
  if (user == "root") return {};
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return Error{EINVAL, "no such user '" + user + "'"};
  }
  if (setgroups(0, nullptr) != 0) return sys_error("setgroups", user);
  if (setresgid(found->pw_gid, found->pw_gid, found->pw_gid) != 0) return sys_error("setgid", user);
  if (setresuid(found->pw_uid, found->pw_uid, found->pw_uid) != 0) return sys_error("setuid", user);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (found->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    return Error{EPERM, "could still regain root after switching to " + user};
  }
  return {};
}

void raise_file_limit() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace pbs::fs
