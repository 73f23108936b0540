// `pbs-lockctl path`: print the absolute lock file path of a group, snapshot or manifest.
#include <cstdio>
#include <string>
#include <vector>

#include "lock_object.hpp"
#include "lock_root.hpp"
#include "lockctl_commands.hpp"

namespace pbs::lockctl {

int run_path(const std::vector<std::string>& args) {
  std::string lock_root = kDefaultLockRoot, ns_text;
  bool manifest = false;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--manifest") {
      manifest = true;
    } else if (arg == "--lock-root" || arg == "--ns") {
      if (i + 1 >= args.size()) return usage_error(arg + " needs a value");
      (arg == "--ns" ? ns_text : lock_root) = args[++i];
    } else if (arg.starts_with("--lock-root=")) {
      lock_root = arg.substr(12);
    } else if (arg.starts_with("--ns=")) {
      ns_text = arg.substr(5);
    } else if (arg.starts_with("-") && arg != "-") {
      return usage_error("unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2)
    return usage_error(
        "usage: pbs-lockctl path [--lock-root DIR] [--ns A/B] STORE TYPE/ID[/TIME] [--manifest]");
  if (lock_root.empty() || lock_root.front() != '/') {
    return usage_error("--lock-root must be an absolute path");
  }
  auto ns = Namespace::parse(ns_text);
  if (!ns) return usage_error(ns.error().message);
  auto object = LockObject::parse(positional[0], std::move(ns.value()), positional[1], manifest);
  if (!object) return usage_error(object.error().message);
  std::string root = trim_trailing_slashes(lock_root);
  std::printf("%s/%s\n", root == "/" ? "" : root.c_str(), object->lock_path().relative().c_str());
  return 0;
}

}  // namespace pbs::lockctl
