// The subcommands of pbs-lockctl, one file each, and their shared error convention.
#pragma once

#include <string>
#include <vector>

namespace pbs::lockctl {

/// Exit code for bad input (a one-line message on stderr).
inline constexpr int kUsageExit = 2;

/// Prints "pbs-lockctl: <message>" on stderr and returns kUsageExit.
int usage_error(const std::string& message);

int run_path(const std::vector<std::string>& args);
int run_list(const std::vector<std::string>& args);
int run_history(const std::vector<std::string>& args);
int run_why(const std::vector<std::string>& args);
int run_metrics(const std::vector<std::string>& args);
int run_top(const std::vector<std::string>& args);
int run_upgrade(const std::vector<std::string>& args);

}  // namespace pbs::lockctl
