// Lock holders; see lock_holders.hpp.
#include "lock_holders.hpp"

#include <cstdlib>
#include <ctime>

#include "text_escape.hpp"

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
    // Nobody we may see shares it (another user's child may): the taker is known to be gone.
    holder.command = info.alive ? info.command : "(exited)";
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
  std::string out =
      "pid=" + std::to_string(h.pid) +
      " uid=" + (h.uid == static_cast<uid_t>(-1) ? std::string("?") : std::to_string(h.uid)) +
      " mode=" + std::string(to_string(h.mode)) + " since=" + iso_time(h.since) +
      " via=" + (h.via_mount ? "mount" : "direct") + " command=" + quote_text(h.command);
  if (!h.task.empty()) out += " task=" + quote_text(h.task);
  // A reason written with echo ends in a newline, which says nothing.
  std::string_view reason = h.reason;
  while (!reason.empty() && reason.back() == '\n')
    reason.remove_suffix(1);
  if (!reason.empty()) out += " reason=" + quote_text(reason);
  return out;
}

std::optional<HolderFields> parse_fields(std::string_view line) {
  HolderFields fields;
  while (!line.empty()) {
    if (line.front() == ' ') {
      line.remove_prefix(1);
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string key(line.substr(0, eq));
    line.remove_prefix(eq + 1);
    std::string value;
    if (!line.empty() && line.front() == '"') {
      auto quoted = unquote_text(line);
      if (!quoted) return std::nullopt;
      value = std::move(*quoted);
    } else {
      auto end = line.find(' ');
      value = std::string(line.substr(0, end));
      line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    }
    fields.emplace_back(std::move(key), std::move(value));
  }
  return fields;
}

std::optional<LockHolder> parse_holder(std::string_view line) {
  auto fields = parse_fields(line);
  if (!fields) return std::nullopt;
  return holder_from_fields(*fields);
}

std::optional<LockHolder> holder_from_fields(const HolderFields& fields) {
  LockHolder h;
  bool has_pid = false;
  for (const auto& [key, value] : fields) {
    char* end = nullptr;
    if (key == "pid") {
      long pid = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || pid <= 0) return std::nullopt;
      h.pid = static_cast<pid_t>(pid);
      has_pid = true;
    } else if (key == "uid" && value != "?") {
      unsigned long uid = std::strtoul(value.c_str(), &end, 10);
      if (*end != '\0') return std::nullopt;
      h.uid = static_cast<uid_t>(uid);
    } else if (key == "mode") {
      h.mode = value == "exclusive" ? LockMode::kExclusive : LockMode::kShared;
    } else if (key == "since") {
      h.since = parse_iso_time(value);
    } else if (key == "via") {
      h.via_mount = value == "mount";
    } else if (key == "command") {
      h.command = value;
    } else if (key == "task") {
      h.task = value;
    } else if (key == "reason") {
      h.reason = value;
    }
  }
  if (!has_pid) return std::nullopt;
  return h;
}

}  // namespace pbs
