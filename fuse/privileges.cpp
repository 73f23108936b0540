// Privilege drop; see privileges.hpp.
#include "privileges.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

namespace pbs::fs {

namespace {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<UserIds> find_user(const std::string& user) {
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return Error{EINVAL, "no such user '" + user + "'"};
  }
  return UserIds{found->pw_uid, found->pw_gid};
}

}  // namespace

Result<uid_t> check_user(const std::string& user) {
  if (user == "root") return uid_t{0};
  auto ids = find_user(user);
  if (!ids) return ids.error();
  return ids->uid;
}

Result<void> drop_privileges(const std::string& user) {
  if (user == "root") return {};
  auto ids = find_user(user);
  if (!ids) return ids.error();
  const UserIds* found = &ids.value();
  if (setgroups(0, nullptr) != 0) return sys_error("setgroups", user);
  if (setresgid(found->gid, found->gid, found->gid) != 0) return sys_error("setgid", user);
  if (setresuid(found->uid, found->uid, found->uid) != 0) return sys_error("setuid", user);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (found->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    return Error{EPERM, "could still regain root after switching to " + user};
  }
  return {};
}

Result<void> keep_only_capabilities(std::initializer_list<int> keep) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (int cap : keep) {
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
  }
  // Permitted capabilities given up are gone for good (this process never runs another program).
  if (syscall(SYS_capset, &header, data) != 0) return sys_error("capset", "the monitor");
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
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
