// Lock holders; see lock_holders.hpp.
#include "lock_holders.hpp"

#include <ctime>
#include <sstream>

namespace pbs {

std::vector<LockHolder> direct_holders(const std::vector<ProcLock>& locks, dev_t device,
                                       ino_t inode, pid_t exclude_pid, std::size_t* waiters) {
  std::vector<LockHolder> out;
  for (const auto& lock : locks) {
    if (lock.device != device || lock.inode != inode || lock.pid == exclude_pid) continue;
    if (lock.waiting) {
      if (waiters != nullptr) ++*waiters;
      continue;
    }
    ProcessInfo info = process_info(lock.pid);
    if (!info.alive) {
      // The process that took it has exited; whoever shares the descriptor still holds it.
      auto sharing = processes_sharing_lock(device, inode);
      if (!sharing.empty()) info = process_info(sharing.front());
    }
    LockHolder holder;
    holder.pid = info.alive ? info.pid : lock.pid;
    holder.uid = info.uid;
    holder.command = info.command;
    holder.mode = lock.exclusive ? LockMode::kExclusive : LockMode::kShared;
    holder.since = info.started;
    out.push_back(std::move(holder));
  }
  return out;
}

void match_tasks(std::vector<LockHolder>& holders, const std::vector<PbsTask>& tasks,
                 const LockObject& object) {
  for (auto& h : holders) {
    if (h.via_mount) continue;
    for (const auto& task : tasks) {
      if (task.pid == h.pid && task_concerns(task, object)) {
        h.task = task.upid + " (" + task.type + ")";
        break;
      }
    }
  }
}

std::string iso_time(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::chrono::system_clock::time_point parse_iso_time(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string describe_holder(const LockHolder& h) {
  std::ostringstream out;
  out << "pid=" << h.pid << " command=" << h.command << " uid=";
  if (h.uid == static_cast<uid_t>(-1)) {
    out << "?";
  } else {
    out << h.uid;
  }
  out << " mode=" << to_string(h.mode) << " since=" << iso_time(h.since)
      << " via=" << (h.via_mount ? "mount" : "direct");
  if (!h.task.empty()) out << " task=" << h.task.substr(0, h.task.find(' '));
  if (!h.reason.empty()) {
    std::string reason = h.reason;
    while (!reason.empty() && reason.back() == '\n')
      reason.pop_back();
    for (char& c : reason) {
      if (c == '\n') c = ' ';
    }
    out << " reason=" << reason;
  }
  return out.str();
}

LockHolder parse_holder(const std::string& line) {
  LockHolder h;
  std::string rest = line;
  if (auto at = rest.find(" reason="); at != std::string::npos) {
    h.reason = rest.substr(at + 8);
    rest.resize(at);
  }
  std::istringstream fields(rest);
  std::string field;
  while (fields >> field) {
    auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    try {
      if (key == "pid") h.pid = static_cast<pid_t>(std::stol(value));
      if (key == "uid" && value != "?") h.uid = static_cast<uid_t>(std::stoul(value));
    } catch (const std::exception&) {
    }
    if (key == "command") h.command = value;
    if (key == "mode") h.mode = value == "exclusive" ? LockMode::kExclusive : LockMode::kShared;
    if (key == "since") h.since = parse_iso_time(value);
    if (key == "via") h.via_mount = value == "mount";
    if (key == "task") h.task = value;
  }
  return h;
}

}  // namespace pbs
