// PBS's lock-path rule; see lock_path.hpp.
#include "lock_path.hpp"

#include "escape.hpp"
#include "sha256.hpp"

namespace pbs {
namespace {
constexpr std::size_t kHashedCut = 80;
}

std::vector<std::string> LockPath::directories() const {
  std::vector<std::string> out{store};
  if (!ns_dir.empty()) out.push_back(ns_dir);
  if (hashed) out.emplace_back("hashed");
  return out;
}

std::string LockPath::directory() const {
  std::string out = store;
  if (!ns_dir.empty()) out += "/" + ns_dir;
  if (hashed) out += "/hashed";
  return out;
}

std::string LockPath::relative() const {
  return directory() + "/" + name;
}

LockPath make_lock_path(std::string_view store, const Namespace& ns, std::string_view rpath) {
  LockPath path{std::string(store), ns.join(':'), false, escape_lock_name(rpath)};
  if (path.name.size() > kMaxPlainLockNameLength) {
    path.hashed = true;
    path.name = path.name.substr(0, kHashedCut) + "..." +
                path.name.substr(path.name.size() - kHashedCut) + "-" + sha256_hex(rpath);
  }
  return path;
}

}  // namespace pbs
