// `pbs-lockctl history` and `pbs-lockctl why`: the running daemon's memory of lock events (read
// from the mount's events file) and, for `why`, the live state of one lock beside it: who holds
// it, since when, why, who waits, and who was refused lately.
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "event_query.hpp"
#include "lock_event.hpp"
#include "lock_holders.hpp"
#include "lockctl_commands.hpp"
#include "mount_names.hpp"
#include "text_escape.hpp"

namespace pbs::lockctl {
namespace {

constexpr const char* kDefaultMount = "/run/pbs-locks";
constexpr const char* kEventsFile = ".pbs-lockfs-events";
constexpr const char* kMetricsFile = ".pbs-lockfs-metrics";

// `02:13:07` today, or `2026-12-01 02:13:07` on another day: local time, as admins read logs.
std::string local_time(LockEvent::Time when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::time_t now = std::time(nullptr);
  std::tm tm{}, today{};
  localtime_r(&t, &tm);
  localtime_r(&now, &today);
  char buffer[40];
  const bool same_day = tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday;
  std::strftime(buffer, sizeof buffer, same_day ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

std::string duration_text(std::chrono::system_clock::duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + std::to_string(s / 60 % 60) + "m";
}

std::string who(const LockEvent& e) {
  std::string out = e.pid == 0 ? "pid ?" : "pid " + std::to_string(e.pid);
  if (!e.command.empty()) out += " " + escape_controls(e.command);
  if (e.uid != static_cast<uid_t>(-1)) out += " (uid " + std::to_string(e.uid) + ")";
  return out;
}

// One line: `02:13:07-02:14:00 hold exclusive direct store1:vm/100/… pid 812 proxmox-backup-p…`.
std::string event_line(const LockEvent& e) {
  std::string out = local_time(e.start);
  if (e.type != LockEvent::Type::kRefused) out += e.end ? " - " + local_time(*e.end) : " - (now)";
  out += "  " + std::string(to_string(e.type));
  out += " " + std::string(e.mode ? to_string(*e.mode) : "?");
  out += " " + std::string(e.via_mount ? "mount" : "direct");
  out += "  " + e.object.describe() + "  " + who(e);
  if (!e.outcome.empty()) out += "  -> " + e.outcome;
  if (!e.task.empty()) out += "  task " + escape_controls(e.task);
  if (!e.reason.empty()) out += "  reason " + quote_text(e.reason);
  return out;
}

struct Common {
  std::string mount = kDefaultMount;
  EventQuery query;
  bool json = false;
  bool manifest = false;
  std::vector<std::string> positional;
};

// Parses the options both commands share; an error message, or nothing.
std::optional<std::string> parse_common(const std::vector<std::string>& args, Common& out) {
  const auto now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= args.size()) return false;
      v = args[++i];
      return true;
    };
    std::string v;
    if (arg == "--json") {
      out.json = true;
    } else if (arg == "--manifest") {
      out.manifest = true;
    } else if (arg == "--mount" || arg == "--store" || arg == "--ns" || arg == "--since" ||
               arg == "--until" || arg == "--at") {
      if (!value(v)) return arg + " needs a value";
      if (arg == "--mount") {
        out.mount = v;
      } else if (arg == "--store") {
        out.query.store = v;
      } else if (arg == "--ns") {
        auto ns = Namespace::parse(v);
        if (!ns) return ns.error().message;
        out.query.ns = std::move(ns.value());
      } else {
        auto t = parse_admin_time(v, now);
        if (!t) return arg + ": " + t.error().message;
        if (arg != "--until") out.query.since = *t;
        if (arg != "--since") out.query.until = *t;
      }
    } else if (arg.starts_with("-") && arg != "-") {
      return "unknown option " + arg;
    } else {
      out.positional.push_back(arg);
    }
  }
  if (out.positional.size() > 1) return "one object at most";
  if (!out.positional.empty()) {
    // `[STORE:]TYPE/ID[/TIME]`
    std::string object = out.positional.front();
    if (auto colon = object.find(':'); colon != std::string::npos && colon < object.find('/')) {
      out.query.store = object.substr(0, colon);
      object.erase(0, colon + 1);
    }
    auto parsed = LockObject::parse(out.query.store.value_or("store"),
                                    out.query.ns.value_or(Namespace()), object, false);
    if (!parsed) return parsed.error().message;
    out.query.object = object;
  }
  return std::nullopt;
}

// The events of the daemon serving `mount`, oldest first; an error message when unreadable.
std::optional<std::string> read_events(const std::string& mount, std::vector<LockEvent>& out) {
  const std::string path = mount + "/" + kEventsFile;
  std::ifstream in(path);
  if (!in) {
    return path + ": " + error_text(errno) +
           " (is pbs-lockfs mounted there? --mount MNT names another mountpoint)";
  }
  std::string line;
  while (std::getline(in, line)) {
    if (auto event = parse_event_json(line)) out.push_back(std::move(*event));
  }
  return std::nullopt;
}

// A getxattr of a node, empty when it has none.
std::string attribute(const std::string& path, const char* name) {
  std::string value(65536, '\0');
  ssize_t n = getxattr(path.c_str(), name, value.data(), value.size());
  if (n < 0) return {};
  value.resize(static_cast<std::size_t>(n));
  return value;
}

}  // namespace

int run_history(const std::vector<std::string>& args) {
  Common c;
  if (auto problem = parse_common(args, c)) return usage_error(*problem);
  std::vector<LockEvent> events;
  if (auto problem = read_events(c.mount, events)) {
    std::fprintf(stderr, "pbs-lockctl: %s\n", problem->c_str());
    return 1;
  }
  for (const auto& e : events) {
    if (!c.query.matches(e)) continue;
    std::printf("%s\n", (c.json ? event_json(e) : event_line(e)).c_str());
  }
  return 0;
}

int run_metrics(const std::vector<std::string>& args) {
  std::string mount = kDefaultMount, output;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if ((arg == "--mount" || arg == "--output") && i + 1 < args.size()) {
      (arg == "--mount" ? mount : output) = args[++i];
    } else {
      return usage_error("usage: pbs-lockctl metrics [--mount MNT] [--output FILE]");
    }
  }
  const std::string path = mount + "/" + kMetricsFile;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) text.clear();
  if (text.empty()) {
    std::fprintf(stderr, "pbs-lockctl: %s: %s (is pbs-lockfs mounted there?)\n", path.c_str(),
                 error_text(errno).c_str());
    return 1;
  }
  if (output.empty()) return std::fputs(text.c_str(), stdout) < 0 ? 1 : 0;
  // Atomically, for node_exporter's textfile collector: it never reads half a file.
  const std::string temporary = output + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::fprintf(stderr, "pbs-lockctl: cannot write %s\n", temporary.c_str());
      std::remove(temporary.c_str());
      return 1;
    }
  }
  if (std::rename(temporary.c_str(), output.c_str()) != 0) {
    std::fprintf(stderr, "pbs-lockctl: cannot rename %s to %s: %s\n", temporary.c_str(),
                 output.c_str(), error_text(errno).c_str());
    std::remove(temporary.c_str());
    return 1;
  }
  return 0;
}

int run_why(const std::vector<std::string>& args) {
  Common c;
  if (auto problem = parse_common(args, c)) return usage_error(*problem);
  if (!c.query.object || !c.query.store) {
    return usage_error(
        "usage: pbs-lockctl why [--mount MNT] [--ns A/B] STORE:TYPE/ID[/TIME] [--manifest]");
  }
  auto object = LockObject::parse(*c.query.store, c.query.ns.value_or(Namespace()), *c.query.object,
                                  c.manifest);
  if (!object) return usage_error(object.error().message);
  const std::string node = c.mount + "/" + mount_path(*object);
  const std::string state = attribute(node, "user.pbs.state");
  if (state.empty()) {
    std::fprintf(stderr, "pbs-lockctl: %s: no such node (is pbs-lockfs mounted at %s?)\n",
                 node.c_str(), c.mount.c_str());
    return 1;
  }
  std::vector<LockEvent> events;
  if (auto problem = read_events(c.mount, events)) {
    std::fprintf(stderr, "pbs-lockctl: %s\n", problem->c_str());
    return 1;
  }
  const auto now = std::chrono::system_clock::now();
  std::printf("%s is %s\n", object->describe().c_str(), state.c_str());
  std::printf("  lock file: %s\n", attribute(node, "user.pbs.lock_file").c_str());
  // Holders: live, from the node (PBS's own included), with the history's start when known.
  const std::string holders = attribute(node, "user.pbs.holders");
  for (std::size_t begin = 0; begin < holders.size();) {
    std::size_t end = holders.find('\n', begin);
    auto holder = parse_holder(std::string_view(holders).substr(begin, end - begin));
    begin = end == std::string::npos ? holders.size() : end + 1;
    if (!holder) continue;
    std::printf("  held %s by pid %d %s (uid %s) via %s since %s (%s)\n",
                std::string(to_string(holder->mode)).c_str(), holder->pid,
                escape_controls(holder->command).c_str(),
                holder->uid == static_cast<uid_t>(-1) ? "?" : std::to_string(holder->uid).c_str(),
                holder->via_mount ? "the mount" : "direct", local_time(holder->since).c_str(),
                duration_text(now - holder->since).c_str());
    if (!holder->task.empty())
      std::printf("    PBS task: %s\n", escape_controls(holder->task).c_str());
    if (!holder->reason.empty())
      std::printf("    reason: %s\n", quote_text(holder->reason).c_str());
  }
  // Waiters through the mount, in queue order; recent refusals.
  EventQuery exact;
  exact.store = object->store;
  exact.ns = object->ns;
  exact.object =
      object->kind == LockKind::kGroup ? object->group.rpath() : object->snapshot().rpath();
  std::vector<const LockEvent*> waiting, refused;
  for (const auto& e : events) {
    if (!exact.matches(e) || e.object.kind != object->kind) continue;
    if (e.type == LockEvent::Type::kWait && e.ongoing()) waiting.push_back(&e);
    if (e.type == LockEvent::Type::kRefused && now - e.start < std::chrono::hours(1))
      refused.push_back(&e);
    if (e.type == LockEvent::Type::kWait && !e.ongoing() && e.outcome != "granted" &&
        now - e.start < std::chrono::hours(1))
      refused.push_back(&e);
  }
  std::printf("  waiting: %zu\n", waiting.size());
  for (const auto* e : waiting) {
    std::printf("    %s %s via %s since %s (%s)\n", who(*e).c_str(),
                std::string(e->mode ? to_string(*e->mode) : "?").c_str(),
                e->via_mount ? "the mount" : "direct", local_time(e->start).c_str(),
                duration_text(now - e->start).c_str());
  }
  std::printf("  refused or given up in the last hour: %zu\n", refused.size());
  for (const auto* e : refused)
    std::printf("    %s\n", event_line(*e).c_str());
  return 0;
}

}  // namespace pbs::lockctl
