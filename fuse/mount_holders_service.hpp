// MountHoldersService: answers, on this daemon's abstract Unix socket
// (mount_holders_socket_name(getpid())), who holds each lock held through this mount, so that
// `pbs-lockctl list` and other mounts on the same lock root show the real requesters. A thread
// of its own, outside FUSE: a daemon asking another one never waits for a FUSE request, so two
// daemons asking each other cannot deadlock. Callers get what listing the mount would show
// them: the access policy is checked with the peer's credentials.
#pragma once

#include <atomic>
#include <thread>

#include "result.hpp"
#include "unique_fd.hpp"

namespace pbs::fs {

struct Filesystem;

class MountHoldersService {
 public:
  explicit MountHoldersService(Filesystem& fs) : fs_(fs) {}
  ~MountHoldersService() { stop(); }
  MountHoldersService(const MountHoldersService&) = delete;
  MountHoldersService& operator=(const MountHoldersService&) = delete;

  /// Listens (as the user the daemon serves as) and starts answering.
  Result<void> start();
  void stop();

 private:
  void run();
  void answer(int connection);

  Filesystem& fs_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;
  std::thread thread_;
};

}  // namespace pbs::fs
