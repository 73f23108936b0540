// UPID parsing; see pbs_tasks.hpp.
#include "pbs_tasks.hpp"

#include <cctype>
#include <fstream>

#include "escape.hpp"

namespace pbs {

std::optional<PbsTask> parse_upid(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  std::vector<std::string_view> fields;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) colon = text.size();
    fields.push_back(text.substr(start, colon - start));
    start = colon + 1;
  }
  if (fields.size() < 9 || fields[0] != "UPID") return std::nullopt;
  PbsTask task;
  task.upid = std::string(text);
  try {
    std::size_t used = 0;
    task.pid = static_cast<pid_t>(std::stoul(std::string(fields[2]), &used, 16));
    if (used != fields[2].size()) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  task.type = std::string(fields[6]);
  // Worker ids escape '/' as '-' and bytes as \xNN; undo it where it is a clean escape.
  std::string raw(fields[7]);
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 3 < raw.size() && raw[i + 1] == 'x' &&
        std::isxdigit(static_cast<unsigned char>(raw[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(raw[i + 3]))) {
      out += static_cast<char>(std::stoi(raw.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else {
      out += raw[i] == '-' ? '/' : raw[i];
    }
  }
  task.worker_id = out;
  return task;
}

std::vector<PbsTask> read_active_tasks(const std::string& path) {
  std::vector<PbsTask> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (auto task = parse_upid(line)) out.push_back(std::move(*task));
  }
  return out;
}

bool task_concerns(const PbsTask& task, const LockObject& object) {
  const std::string& id = task.worker_id;
  if (id.rfind(object.store + ":", 0) != 0) return false;
  std::string group = object.group.rpath();
  for (std::size_t at = id.find(group); at != std::string::npos; at = id.find(group, at + 1)) {
    bool starts = at > 0 && (id[at - 1] == ':' || id[at - 1] == '/');
    std::size_t end = at + group.size();
    bool ends = end == id.size() || id[end] == '/' || id[end] == ':';
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace pbs
