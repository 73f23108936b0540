// `pbs-lockctl top`: a live view of PBS lock contention, like top(1): the locks held now, longest
// first, with their holders (command, pid, task, reason), the waiters, refused attempts per
// minute and the busiest objects of the last hour, refreshed every second from the running
// daemon's history (the mount's events file). ncurses on a terminal; plain repeated text with
// -b or when stdout is not a terminal (like top -b).
//
// Keys: q quits, s changes the order of the held locks (longest held, object, pid), f filters by
// the next store (and back to all).
#include <curses.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lock_event.hpp"
#include "lockctl_commands.hpp"
#include "text_escape.hpp"

namespace pbs::lockctl {
namespace {

using Clock = std::chrono::system_clock;

enum class Order { kLongest, kObject, kPid };
const char* order_name(Order o) {
  return o == Order::kLongest ? "longest held" : o == Order::kObject ? "object" : "pid";
}

struct Options {
  std::string mount = "/run/pbs-locks";
  double delay = 1.0;
  bool batch = false;
  long iterations = -1;  ///< -1: until q (or forever in batch mode)
  std::string store;     ///< filter; empty: all
};

std::string age(Clock::duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  char buffer[32];
  if (s < 3600) {
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld", s / 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%ldh%02ld", s / 3600, s / 60 % 60);
  }
  return buffer;
}

// What one screen shows, computed from the events.
struct Frame {
  std::vector<LockEvent> held, waiting;
  std::size_t refused_last_minute = 0;
  std::vector<std::pair<std::size_t, std::string>> busiest;  ///< events in the last hour, object
  std::set<std::string> stores;
  bool readable = true;
};

Frame compute(const Options& o, Order order) {
  Frame f;
  std::ifstream in(o.mount + "/.pbs-lockfs-events");
  if (!in) {
    f.readable = false;
    return f;
  }
  const auto now = Clock::now();
  std::map<std::string, std::size_t> activity;
  for (std::string line; std::getline(in, line);) {
    auto e = parse_event_json(line);
    if (!e) continue;
    f.stores.insert(e->object.store);
    if (!o.store.empty() && e->object.store != o.store) continue;
    if (e->ongoing() && e->type == LockEvent::Type::kHold) f.held.push_back(*e);
    if (e->ongoing() && e->type == LockEvent::Type::kWait) f.waiting.push_back(*e);
    const bool refused = e->type == LockEvent::Type::kRefused ||
                         (e->type == LockEvent::Type::kWait && e->end && e->outcome != "granted");
    if (refused && now - e->start < std::chrono::minutes(1)) ++f.refused_last_minute;
    if (now - e->start < std::chrono::hours(1)) ++activity[e->object.describe()];
  }
  auto by = [order](const LockEvent& a, const LockEvent& b) {
    if (order == Order::kObject) return a.object.describe() < b.object.describe();
    if (order == Order::kPid) return a.pid < b.pid;
    return a.start < b.start;
  };
  std::stable_sort(f.held.begin(), f.held.end(), by);
  for (const auto& [object, n] : activity)
    f.busiest.emplace_back(n, object);
  std::sort(f.busiest.rbegin(), f.busiest.rend());
  if (f.busiest.size() > 5) f.busiest.resize(5);
  return f;
}

std::string who(const LockEvent& e) {
  std::string out = (e.pid == 0 ? std::string("?") : std::to_string(e.pid)) + " " +
                    escape_controls(e.command.empty() ? "?" : e.command);
  if (!e.task.empty()) out += " task " + escape_controls(e.task);
  if (!e.reason.empty()) out += " reason " + quote_text(e.reason);
  return out;
}

// The frame as lines of text (the same for the terminal and batch mode).
std::vector<std::string> render(const Frame& f, const Options& o, Order order) {
  std::vector<std::string> lines;
  char buffer[512];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  if (!f.readable) {
    lines.push_back(std::string("pbs-lockctl top - ") + clock + " - cannot read " + o.mount +
                    "/.pbs-lockfs-events (is pbs-lockfs mounted there?)");
    return lines;
  }
  std::snprintf(buffer, sizeof buffer,
                "pbs-lockctl top - %s - %zu held, %zu waiting, %zu refused in the last minute - "
                "store %s - order %s",
                clock, f.held.size(), f.waiting.size(), f.refused_last_minute,
                o.store.empty() ? "all" : o.store.c_str(), order_name(order));
  lines.push_back(buffer);
  lines.emplace_back();
  const auto now = Clock::now();
  // One table of holds or waits: how long, mode, how, the object, who.
  auto table = [&](const char* heading, const std::vector<LockEvent>& events) {
    lines.emplace_back(heading);
    for (const auto& e : events) {
      std::snprintf(buffer, sizeof buffer, "%8s  %-9s  %-6s  %-41s  %s", age(now - e.start).c_str(),
                    e.mode ? std::string(to_string(*e.mode)).c_str() : "?",
                    e.via_mount ? "mount" : "direct", e.object.describe().c_str(), who(e).c_str());
      lines.push_back(buffer);
    }
    lines.emplace_back();
  };
  table("HELD FOR  MODE       VIA     OBJECT                                     HOLDER", f.held);
  table("WAITING   MODE       VIA     OBJECT                                     WAITER",
        f.waiting);
  lines.push_back("BUSIEST (events in the last hour)");
  for (const auto& [n, object] : f.busiest) {
    std::snprintf(buffer, sizeof buffer, "%8zu  %s", n, object.c_str());
    lines.push_back(buffer);
  }
  return lines;
}

int run_batch(Options& o) {
  for (long i = 0; o.iterations < 0 || i < o.iterations; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.delay));
    auto frame = compute(o, Order::kLongest);
    for (const auto& line : render(frame, o, Order::kLongest))
      std::printf("%s\n", line.c_str());
    std::printf("\n");
    std::fflush(stdout);
    if (!frame.readable) return 1;
  }
  return 0;
}

int run_screen(Options& o) {
  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  timeout(static_cast<int>(o.delay * 1000));
  Order order = Order::kLongest;
  for (long i = 0; o.iterations < 0 || i < o.iterations; ++i) {
    auto frame = compute(o, order);
    erase();
    int rows = 0, cols = 0;
    getmaxyx(stdscr, rows, cols);
    int y = 0;
    for (const auto& line : render(frame, o, order)) {
      if (y >= rows - 1) break;
      mvaddnstr(y++, 0, line.c_str(), cols);
    }
    mvaddnstr(rows - 1, 0, "q quit  s order  f store filter", cols);
    refresh();
    int key = getch();
    if (key == 'q' || key == 'Q') break;
    if (key == 's')
      order = order == Order::kLongest  ? Order::kObject
              : order == Order::kObject ? Order::kPid
                                        : Order::kLongest;
    if (key == 'f') {
      // The next store after the current filter, then all again.
      auto next = o.store.empty() ? frame.stores.begin() : frame.stores.upper_bound(o.store);
      o.store = next == frame.stores.end() ? std::string() : *next;
    }
    // KEY_RESIZE (the terminal changed size) and the timeout just redraw.
  }
  endwin();
  return 0;
}

}  // namespace

int run_top(const std::vector<std::string>& args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-b" || arg == "--batch") {
      o.batch = true;
    } else if ((arg == "-d" || arg == "-n" || arg == "--mount" || arg == "--store") &&
               i + 1 < args.size()) {
      const std::string& value = args[++i];
      char* end = nullptr;
      if (arg == "-d") {
        o.delay = std::strtod(value.c_str(), &end);
        if (*end != '\0' || !(o.delay >= 0.1 && o.delay <= 3600))
          return usage_error("-d needs seconds from 0.1 to 3600");
      } else if (arg == "-n") {
        o.iterations = std::strtol(value.c_str(), &end, 10);
        if (*end != '\0' || o.iterations < 1) return usage_error("-n needs a count of at least 1");
      } else {
        (arg == "--mount" ? o.mount : o.store) = value;
      }
    } else {
      return usage_error(
          "usage: pbs-lockctl top [--mount MNT] [--store NAME] [-d SECS] [-n COUNT] [-b]");
    }
  }
  if (o.batch || isatty(STDOUT_FILENO) == 0) return run_batch(o);
  return run_screen(o);
}

}  // namespace pbs::lockctl
