// /proc/locks and /proc/<pid> reading; see proc_locks.hpp.
#include "proc_locks.hpp"

#include "unique_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace pbs {

namespace {

// The next blank-separated field of `line`, advancing it.
std::string_view next_field(std::string_view& line) {
  std::size_t begin = line.find_first_not_of(' ');
  if (begin == std::string_view::npos) return line = {}, std::string_view{};
  std::size_t end = line.find(' ', begin);
  std::string_view field = line.substr(begin, end == std::string_view::npos ? end : end - begin);
  line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  return field;
}

template <typename T>
bool number(std::string_view text, T& value, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace

// One pass over the text without copies: with a thousand locks on the host this runs on every
// listing (once per 5 ms), so it must not cost microseconds per line.
std::vector<ProcLock> parse_proc_locks(std::string_view text) {
  std::vector<ProcLock> out;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    next_field(line);  // "<id>:"
    std::string_view kind = next_field(line);
    ProcLock lock;
    if (kind == "->") {
      lock.waiting = true;
      kind = next_field(line);
    }
    if (kind != "FLOCK") continue;
    next_field(line);  // ADVISORY
    std::string_view access = next_field(line), pid = next_field(line);
    std::string_view location = next_field(line);  // maj:min:inode
    auto first = location.find(':'), second = location.find(':', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) continue;
    unsigned major = 0, minor = 0;
    if (!number(location.substr(0, first), major, 16) ||
        !number(location.substr(first + 1, second - first - 1), minor, 16) ||
        !number(location.substr(second + 1), lock.inode) || !number(pid, lock.pid)) {
      continue;
    }
    lock.device = makedev(major, minor);
    lock.exclusive = access == "WRITE";
    out.push_back(lock);
  }
  return out;
}

Result<std::vector<ProcLock>> read_proc_locks() {
  UniqueFd file(::open("/proc/locks", O_RDONLY | O_CLOEXEC));
  if (!file) return sys_error("open", "/proc/locks");
  std::string text;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read", "/proc/locks");
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return parse_proc_locks(text);
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
  // One line. Read with getline, never with istreambuf_iterator: a process that exits while it
  // is read makes read() fail with ESRCH, which libstdc++ throws past an iterator (it ended the
  // daemon once) but turns into a failed stream for getline.
  std::ifstream stat(base + "/stat");
  std::string text;
  std::getline(stat, text);
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
