// Logging setup; see logging.hpp.
#include "logging.hpp"

#define FUSE_USE_VERSION 314
#include <fuse_log.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <syslog.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace pbs::fs {
namespace {

// `%*`: the sd-daemon(3) priority prefix of the message's level.
class SyslogPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    // trace, debug, info, warn, err, critical, off
    static constexpr std::string_view kPrefix[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", ""};
    std::string_view prefix = kPrefix[static_cast<int>(msg.level)];
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<SyslogPriority>();
  }
};

// libfuse's messages, at their level. "reading device" with ECONNABORTED comes when a detached
// mount ends with requests still queued, which the daemon then reports itself as it was.
void from_libfuse(enum fuse_log_level level, const char* format, va_list args) {
  char buffer[1024];
  std::vsnprintf(buffer, sizeof buffer, format, args);
  std::string_view text = buffer;
  while (!text.empty() && text.back() == '\n')
    text.remove_suffix(1);
  spdlog::level::level_enum ours = level <= FUSE_LOG_ERR       ? spdlog::level::err
                                   : level == FUSE_LOG_WARNING ? spdlog::level::warn
                                   : level <= FUSE_LOG_INFO    ? spdlog::level::info
                                                               : spdlog::level::debug;
  if (text.find("reading device") != std::string_view::npos &&
      text.find(error_text(ECONNABORTED)) != std::string_view::npos) {
    ours = spdlog::level::debug;
  }
  spdlog::log(ours, "libfuse: {}", text);
}

void set_default(std::shared_ptr<spdlog::logger> logger) {
  logger->flush_on(spdlog::level::trace);
  if (auto old = spdlog::default_logger()) logger->set_level(old->level());
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

void log_to_syslog() {
  if (std::getenv("JOURNAL_STREAM") != nullptr) return;
  auto sink =
      std::make_shared<spdlog::sinks::syslog_sink_mt>("pbs-lockfs", LOG_PID, LOG_DAEMON, false);
  auto logger = std::make_shared<spdlog::logger>("pbs-lockfs-syslog", sink);
  logger->set_pattern("%v");
  set_default(std::move(logger));
}

Result<void> setup_logging(bool debug) {
  auto logger = spdlog::stderr_logger_mt("pbs-lockfs");
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  fuse_set_log_func(from_libfuse);
  const char* level = std::getenv("PBS_LOCKFS_LOG");
  spdlog::level::level_enum chosen = spdlog::level::info;
  if (level != nullptr) {
    // from_str answers "off" for anything it does not know: a typo would silence the daemon.
    chosen = spdlog::level::from_str(level);
    if (chosen == spdlog::level::off && std::string_view(level) != "off") {
      return Error{EINVAL, std::string("PBS_LOCKFS_LOG=") + level +
                               ": not a log level (trace, debug, info, warn, err, critical, off)"};
    }
  }
  spdlog::set_level(debug ? spdlog::level::debug : chosen);
  return {};
}

}  // namespace pbs::fs
