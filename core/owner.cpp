// Thread-safe user and group lookups (getpwnam_r/getgrnam_r).
#include "owner.hpp"

#include <grp.h>
#include <pwd.h>

#include <vector>

namespace pbs {

Result<gid_t> lookup_group(const std::string& group) {
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  int rc = getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) return Error{EINVAL, "no such group '" + group + "'"};
  return found->gr_gid;
}

Result<Owner> Owner::lookup(const std::string& user, const std::string& group) {
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  int rc = getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) return Error{EINVAL, "no such user '" + user + "'"};
  auto gid = lookup_group(group);
  if (!gid) return gid.error();
  return Owner{found->pw_uid, *gid};
}

}  // namespace pbs
