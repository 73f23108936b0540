// Caller identity and the access policy; see caller.hpp.
#include "caller.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace pbs::fs {

Caller Caller::of(fuse_req_t req) {
  Caller caller;
  const fuse_ctx* ctx = fuse_req_ctx(req);
  caller.tid = ctx->pid;
  caller.uid = ctx->uid;
  caller.gid = ctx->gid;
  caller.req_ = req;
  return caller;
}

Caller Caller::of_process(pid_t pid, uid_t uid, gid_t gid) {
  Caller caller;
  caller.tid = pid;
  caller.uid = uid;
  caller.gid = gid;
  caller.groups_.emplace();
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream ids(line.substr(7));
    for (unsigned long id; ids >> id;)
      caller.groups_->push_back(static_cast<gid_t>(id));
  }
  return caller;
}

const std::vector<gid_t>& Caller::groups() const {
  if (!groups_) {
    // As many as the caller has (up to NGROUPS_MAX, 65536): the lock group may be any of them.
    std::vector<gid_t> groups(256);
    int n = req_ != nullptr
                ? fuse_req_getgroups(req_, static_cast<int>(groups.size()), groups.data())
                : 0;
    if (n > static_cast<int>(groups.size())) {
      groups.resize(static_cast<std::size_t>(n));
      n = fuse_req_getgroups(req_, n, groups.data());
    }
    groups.resize(static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(groups.size()))));
    groups_.emplace(std::move(groups));
  }
  return *groups_;
}

std::string Caller::command() const {
  return process_command(tid);
}

std::string Caller::describe() const {
  return "pid " + std::to_string(tid) + " (" + command() + ") uid " + std::to_string(uid);
}

bool AccessPolicy::may_lock(const Caller& caller) const {
  if (caller.uid == 0 || caller.uid == backup_uid || caller.gid == lock_gid) return true;
  const auto& groups = caller.groups();
  return std::find(groups.begin(), groups.end(), lock_gid) != groups.end();
}

}  // namespace pbs::fs
