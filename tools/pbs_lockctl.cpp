// pbs-lockctl: the admin's command-line tool for PBS locks. Dispatches to one subcommand.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lockctl_commands.hpp"

namespace pbs::lockctl {

int usage_error(const std::string& message) {
  std::fprintf(stderr, "pbs-lockctl: %s\n", message.c_str());
  return kUsageExit;
}

}  // namespace pbs::lockctl

namespace {

constexpr const char kUsage[] =
    "usage: pbs-lockctl COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  path [--lock-root DIR] [--ns A/B] STORE TYPE/ID[/TIME] [--manifest]\n"
    "      print the absolute path of the PBS lock file of a group, snapshot or manifest\n"
    "  list [--lock-root DIR] [--store NAME] [--ns A/B] [--json] [--tasks-file FILE]\n"
    "       [--config DATASTORE_CFG]\n"
    "      every held lock: store, namespace, object, mode, holder, since, how held, PBS task\n"
    "      (holders through any pbs-lockfs mount are shown as the real requesters)\n";

}  // namespace

int main(int argc, char** argv) {
  // The library's log lines go to stderr, and only warnings: stdout is the answer (JSON too).
  auto logger = spdlog::stderr_logger_mt("pbs-lockctl");
  logger->set_pattern("pbs-lockctl: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return pbs::lockctl::kUsageExit;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "path") return pbs::lockctl::run_path(args);
  if (command == "list") return pbs::lockctl::run_list(args);
  return pbs::lockctl::usage_error("unknown command '" + command + "' (try --help)");
}
