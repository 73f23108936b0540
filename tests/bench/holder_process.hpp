// HolderProcess: a child process that holds nodes of the mount open (exclusive) until told to
// let go. The waiters must be another process: the daemon refuses, with EDEADLK, a process that
// would wait for its own hold.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace pbs::bench {

class HolderProcess {
 public:
  /// Returns once every node is held; ok() is false when one could not be opened.
  explicit HolderProcess(const std::vector<std::string>& nodes) {
    int ready[2], release[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(release[1]);  // else the read below never sees the parent's end close
      std::vector<int> held;
      for (const auto& node : nodes) {
        int fd = open(node.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) _exit(1);
        held.push_back(fd);
      }
      char byte = 1;
      if (write(ready[1], &byte, 1) != 1) _exit(1);
      [[maybe_unused]] auto n = read(release[0], &byte, 1);  // until told, or the parent dies
      _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    release_ = release[1];
    char byte = 0;
    ok_ = pid_ > 0 && read(ready[0], &byte, 1) == 1;
    close(ready[0]);
  }
  ~HolderProcess() { release(); }
  HolderProcess(const HolderProcess&) = delete;
  HolderProcess& operator=(const HolderProcess&) = delete;

  bool ok() const { return ok_; }
  /// Lets go of every node (the child closes them by exiting) and reaps the child.
  void release() {
    if (release_ >= 0) close(release_);
    release_ = -1;
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int release_ = -1;
  bool ok_ = false;
};

}  // namespace pbs::bench
