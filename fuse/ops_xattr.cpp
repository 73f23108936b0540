// Lock details as extended attributes (`getfattr -d -m - NODE`), all under `user.pbs.`, read
// without opening (and so without locking) the node. They cannot be set or removed.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "filesystem.hpp"
#include "ops.hpp"
#include "text_escape.hpp"

namespace pbs::fs {

namespace {

constexpr const char* kNames[] = {"user.pbs.state",     "user.pbs.holders", "user.pbs.waiters",
                                  "user.pbs.lock_file", "user.pbs.stale",   "user.pbs.reason",
                                  "user.pbs.task",      "user.pbs.status"};

// The value of attribute `name` of a lock node, or nothing when there is no such attribute.
std::optional<std::string> attribute(Filesystem& fs, const Node& node, std::string_view name) {
  // The text a read of the open node shows, without opening it: reading a node takes a lock.
  if (name == "user.pbs.status") return open_node_text(fs, node);
  NodeLockState state = node_lock_state(fs, node);
  if (name == "user.pbs.state") return std::string(state.state());
  if (name == "user.pbs.lock_file") return state.lock_file;
  if (name == "user.pbs.waiters") return std::to_string(state.mount_waiters + state.direct_waiters);
  if (name == "user.pbs.holders" || name == "user.pbs.reason" || name == "user.pbs.task") {
    std::string out;
    for (const auto& h : state.holders) {
      if (name == "user.pbs.holders") {
        out += describe_holder(h) + "\n";
      } else if (name == "user.pbs.task") {
        if (!h.task.empty()) out += escape_controls(h.task) + "\n";
      } else if (!h.reason.empty()) {
        // One line per holder, whatever the reason holds (a newline shows as \n).
        std::string_view reason = h.reason;
        while (!reason.empty() && reason.back() == '\n')
          reason.remove_suffix(1);
        out += escape_controls(reason) + "\n";
      }
    }
    return out;
  }
  if (name == "user.pbs.stale") {
    auto stale = lock_file_is_stale(fs, node, state);
    if (!stale) return std::nullopt;  // unknown: no answer rather than a wrong one
    return std::string(*stale ? "yes" : "no");
  }
  return std::nullopt;
}

// The kernel passes at most XATTR_SIZE_MAX (64 KiB) of a value; `getfattr` fails with E2BIG on a
// longer one. A longer list (a thousand holders) is cut at a line, with a last line saying how
// many lines are left out and where the whole list is.
void fit_xattr_size(std::string& value) {
  constexpr std::size_t kMax = 65536, kRoomForNote = 200;
  if (value.size() <= kMax) return;
  std::size_t cut = value.rfind('\n', kMax - kRoomForNote);
  cut = cut == std::string::npos ? 0 : cut + 1;
  auto left_out = std::count(value.begin() + static_cast<std::ptrdiff_t>(cut), value.end(), '\n');
  value.resize(cut);
  value += "... " + std::to_string(left_out) +
           " more line(s) left out (64 KiB limit): the whole list is in `pbs-lockctl list` and "
           "in the text a read of the open node returns\n";
}

}  // namespace

void op_getxattr(Request& req, fuse_ino_t ino, const char* name, size_t size) {
  auto& fs = Filesystem::of(req);
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  // `ls -l` asks every entry for security.selinux and system.posix_acl_access. Names outside
  // `user.` are not supported here at all: EOPNOTSUPP, which coreutils remembers for the whole
  // filesystem (ENODATA would have it ask again for every entry, two requests each).
  if (std::string_view(name).rfind("user.", 0) != 0) return req.error(EOPNOTSUPP);
  bool ours =
      std::find(std::begin(kNames), std::end(kNames), std::string_view(name)) != std::end(kNames);
  if (!node->is_lock() || !ours) return req.error(ENODATA);
  Caller caller = Caller::of(req);
  if (!permitted(fs.access.may_list(caller), caller, "getxattr", node->mount_path()))
    return req.error(EACCES);
  auto value = attribute(fs, *node, name);
  if (!value) return req.error(ENODATA);
  fit_xattr_size(*value);
  if (size == 0) return req.xattr_size(value->size());
  if (size < value->size()) return req.error(ERANGE);
  req.buffer(value->data(), value->size());
}

void op_listxattr(Request& req, fuse_ino_t ino, size_t size) {
  auto node = node_of(req, ino);
  if (!node) return req.error(ESTALE);
  std::string names;
  if (node->is_lock()) {
    // The holders' reasons and PBS tasks are listed only when there are any (`getfattr -d`
    // would show them as empty strings otherwise).
    NodeLockState state = node_lock_state(Filesystem::of(req), *node);
    bool reasons = false, tasks = false;
    for (const auto& h : state.holders) {
      reasons = reasons || !h.reason.empty();
      tasks = tasks || !h.task.empty();
    }
    for (const char* name : kNames) {
      if ((!reasons && std::string_view(name) == "user.pbs.reason") ||
          (!tasks && std::string_view(name) == "user.pbs.task")) {
        continue;
      }
      names.append(name).push_back('\0');
    }
  }
  if (size == 0) return req.xattr_size(names.size());
  if (size < names.size()) return req.error(ERANGE);
  req.buffer(names.data(), names.size());
}

}  // namespace pbs::fs
