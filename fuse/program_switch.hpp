// ProgramSwitch: replaces the daemon's program with the installed one under the live mount,
// keeping every held lock, every open handle and the connection (pbs-lockctl upgrade; the
// package's postinst).
//
// The daemon, its workers paused (no request being answered), takes its state (ProgramState)
// into a memfd and first asks the new program whether it can take over: the program runs as a
// child with --check-resume, reads the state and replays the saved FUSE_INIT into a session of
// its own; it must answer exactly as this image did. Only then are the state's descriptors (the
// connection, the lock files, the openers' pidfds) made to survive execve(2) and the same
// process, same pid, runs the new program with --resume. Any failure before execve leaves the
// daemon as it was, serving on; the reason is returned (and logged by the caller).
//
//   ProgramSwitch program("/usr/sbin/pbs-lockfs", {"-f", "/run/pbs-locks"});
//   Error why = program.replace(fs, fuse_session_fd(se), attempts);  // returns only on failure
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mutex.hpp"
#include "result.hpp"

namespace pbs::fs {

struct Filesystem;

/// The program serving the mount and its switches, as the status file shows them.
class ProgramRecord {
 public:
  void started(std::string path);
  /// This image took over from `from_version`, at switch number `attempts`.
  void resumed(std::uint64_t attempts, const std::string& from_version);
  /// Counts a switch asked for; returns its number (what the next image reports).
  std::uint64_t attempt();
  /// The switch asked for last did not happen, because of `why`.
  void refused(const std::string& why);
  /// "program: …", "upgrade attempts: N" and "last upgrade: …" lines.
  std::string status_lines() const;

 private:
  mutable Mutex mutex_;
  std::string path_ PBS_GUARDED_BY(mutex_);
  std::uint64_t attempts_ PBS_GUARDED_BY(mutex_) = 0;
  std::string last_ PBS_GUARDED_BY(mutex_) = "none";
};

class ProgramSwitch {
 public:
  /// `program`: the file to run (where this daemon's program was installed); `arguments`: the
  /// daemon's own command line after argv[0].
  ProgramSwitch(std::string program, std::vector<std::string> arguments);

  const std::string& path() const { return program_; }
  /// Replaces this process's program; returns only when it did not (why).
  Error replace(Filesystem& fs, int connection_fd, std::uint64_t attempts);

  /// The path of the running program (readlink /proc/self/exe), taken at start: once the
  /// package replaces the file, that link names a deleted file.
  static std::string running_program();

 private:
  Error replace_frozen(Filesystem& fs, int connection_fd, std::uint64_t attempts);
  /// Runs the new program with --check-resume on the state in `state_fd`.
  Result<void> preflight(int state_fd) const;

  std::string program_;
  std::vector<std::string> arguments_;
  std::chrono::seconds preflight_limit_{20};
};

}  // namespace pbs::fs
