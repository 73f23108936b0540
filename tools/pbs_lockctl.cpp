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
    "      (holders through any pbs-lockfs mount are shown as the real requesters)\n"
    "  history [--mount MNT] [--store NAME] [--ns A/B] [--since TIME] [--until TIME]\n"
    "          [--at TIME] [--json] [[STORE:]TYPE/ID[/TIME]]\n"
    "      lock events the running daemon remembers: holds (who, from when to when, why),\n"
    "      waits through the mount and how they ended, refused attempts; TIME as 02:13,\n"
    "      \"2026-12-02 02:13\", 2026-12-02T01:13:00Z or -2h (MNT default /run/pbs-locks)\n"
    "  why [--mount MNT] [--ns A/B] STORE:TYPE/ID[/TIME] [--manifest]\n"
    "      why a lock is busy now: its holders and since when, their reason and PBS task, who\n"
    "      waits through the mount, and the attempts refused in the last hour\n"
    "  metrics [--mount MNT] [--output FILE]\n"
    "      lock metrics in Prometheus's text format (FILE written atomically, for\n"
    "      node_exporter's textfile collector)\n"
    "  top [--mount MNT] [--store NAME] [-d SECS] [-n COUNT] [-b]\n"
    "      live view: held locks (longest first) and their holders, waiters, refused\n"
    "      attempts per minute, busiest objects; q quits, s orders, f filters by store;\n"
    "      -b (or not a terminal): plain text every SECS\n";

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
  if (command == "history") return pbs::lockctl::run_history(args);
  if (command == "why") return pbs::lockctl::run_why(args);
  if (command == "metrics") return pbs::lockctl::run_metrics(args);
  if (command == "top") return pbs::lockctl::run_top(args);
  if (command == "upgrade") return pbs::lockctl::run_upgrade(args);
  return pbs::lockctl::usage_error("unknown command '" + command + "' (try --help)");
}
