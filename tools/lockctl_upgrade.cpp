// pbs-lockctl upgrade: makes the daemon serving a mount replace its program with the installed
// one, keeping every lock (pbs-lockfs's program_switch.hpp), and tells how it went. The daemon
// is named by the mount's status file (`pid:`); the request is SIGUSR2 (root or backup may send
// it); the outcome is the status file's `last upgrade:` line once `upgrade attempts:` has grown.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lockctl_commands.hpp"
#include "result.hpp"

namespace pbs::lockctl {
namespace {

constexpr const char* kUsage = "usage: pbs-lockctl upgrade [--mount MNT] [--timeout SECS]";

/// The status file's `name: value` lines; empty when it cannot be read.
std::map<std::string, std::string> read_status(const std::string& mount) {
  std::map<std::string, std::string> fields;
  std::ifstream in(mount + "/.pbs-lockfs");
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos) fields.emplace(line.substr(0, colon), line.substr(colon + 2));
  }
  return fields;
}

}  // namespace

int run_upgrade(const std::vector<std::string>& args) {
  std::string mount = "/run/pbs-locks";
  double timeout = 120;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--mount" && i + 1 < args.size()) {
      mount = args[++i];
    } else if (args[i] == "--timeout" && i + 1 < args.size()) {
      try {
        timeout = std::stod(args[++i]);
      } catch (const std::exception&) {
        return usage_error(kUsage);
      }
    } else {
      return usage_error(kUsage);
    }
  }
  auto before = read_status(mount);
  if (before.count("pid") == 0 || before.count("upgrade attempts") == 0) {
    std::fprintf(stderr,
                 "pbs-lockctl: %s: no pbs-lockfs status there (is pbs-lockfs mounted there, and "
                 "a version that upgrades in place?)\n",
                 mount.c_str());
    return 1;
  }
  const pid_t daemon = static_cast<pid_t>(std::stol(before["pid"]));
  const unsigned long attempts = std::stoul(before["upgrade attempts"]);
  if (kill(daemon, SIGUSR2) != 0) {
    std::fprintf(stderr, "pbs-lockctl: cannot signal the daemon (pid %d): %s (run as root)\n",
                 daemon, error_text(errno).c_str());
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto now = read_status(mount);
    if (now.count("upgrade attempts") == 0 || std::stoul(now["upgrade attempts"]) <= attempts)
      continue;
    const std::string& last = now["last upgrade"];
    if (last.rfind("done", 0) == 0) {
      std::printf("pbs-lockfs (pid %d) upgraded in place: now running %s; every lock kept\n",
                  daemon, now["program"].c_str());
      return 0;
    }
    std::fprintf(stderr, "pbs-lockctl: upgrade %s; pbs-lockfs serves on unchanged\n", last.c_str());
    return 1;
  }
  std::fprintf(stderr, "pbs-lockctl: pbs-lockfs (pid %d) did not report an upgrade within %g s\n",
               daemon, timeout);
  return 1;
}

}  // namespace pbs::lockctl
