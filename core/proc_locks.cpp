// /proc/locks and /proc/<pid> reading; see proc_locks.hpp.
#include "proc_locks.hpp"

#include <dirent.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace pbs {

std::vector<ProcLock> parse_proc_locks(std::string_view text) {
  std::vector<ProcLock> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, kind, advisory, access, pid, location;
    fields >> id >> kind;
    ProcLock lock;
    if (kind == "->") {
      lock.waiting = true;
      fields >> kind;
    }
    if (kind != "FLOCK") continue;
    fields >> advisory >> access >> pid >> location;
    // maj:min:inode
    auto first = location.find(':'), second = location.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    try {
      unsigned major = std::stoul(location.substr(0, first), nullptr, 16);
      unsigned minor = std::stoul(location.substr(first + 1, second - first - 1), nullptr, 16);
      lock.inode = std::stoull(location.substr(second + 1));
      lock.device = makedev(major, minor);
      lock.pid = static_cast<pid_t>(std::stol(pid));
    } catch (const std::exception&) {
      continue;
    }
    lock.exclusive = access == "WRITE";
    out.push_back(lock);
  }
  return out;
}

Result<std::vector<ProcLock>> read_proc_locks() {
  std::ifstream in("/proc/locks");
  if (!in) return sys_error("read", "/proc/locks");
  std::stringstream text;
  text << in.rdbuf();
  return parse_proc_locks(text.str());
}

std::vector<pid_t> processes_sharing_lock(dev_t device, ino_t inode) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string fdinfo = std::string("/proc/") + entry->d_name + "/fdinfo";
    DIR* fds = opendir(fdinfo.c_str());
    if (fds == nullptr) continue;  // not ours to read
    bool found = false;
    while (dirent* fd = readdir(fds)) {
      if (fd->d_name[0] == '.' || found) continue;
      std::ifstream in(fdinfo + "/" + fd->d_name);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("lock:", 0) != 0) continue;
        for (const auto& lock : parse_proc_locks(line.substr(5))) {
          if (lock.device == device && lock.inode == inode && !lock.waiting) found = true;
        }
      }
    }
    closedir(fds);
    if (found) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return out;
}

ProcessInfo process_info(pid_t pid) {
  ProcessInfo info;
  info.pid = pid;
  std::string base = "/proc/" + std::to_string(pid);
  std::ifstream status(base + "/status");
  if (!status) return info;
  info.alive = true;
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) info.uid = static_cast<uid_t>(std::stoul(line.substr(4)));
  }
  std::ifstream comm(base + "/comm");
  std::getline(comm, info.command);
  if (info.command.empty()) info.command = "?";
  // Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
  std::ifstream stat(base + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(text.substr(paren + 2));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
      if (i != 22) continue;
      std::ifstream uptime_file("/proc/uptime");
      double uptime = 0;
      uptime_file >> uptime;
      double since_boot = std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
      auto age = std::chrono::duration<double>(uptime - since_boot);
      info.started = std::chrono::system_clock::now() -
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(age);
    }
  }
  return info;
}

}  // namespace pbs
