// FuseWorkers: the daemon's own FUSE request loop, in place of libfuse's fuse_session_loop_mt:
// a fixed set of worker threads, each reading requests from the session
// (fuse_session_receive_buf) and answering them (fuse_session_process_buf), while the calling
// thread waits for the session to end and then stops them. Owning the loop lets the daemon see
// each request as the kernel sent it (a new program image taking over the connection must replay
// the saved FUSE_INIT into its own session), know the stop signal without libfuse's
// private fields, and decide what a failed read means.
//
//   FuseWorkers workers(se, 16);
//   int rc = workers.run([] { /* the session has ended */ });   // 0, or -errno
//   if (workers.paused()) { /* pause() was called: nothing is read until run() again */ }
//
// Stop signals (StopSignals) reach only the thread in run(): the workers block them, as libfuse's
// do. A worker waiting for a request is cancelled (pthread_cancel, enabled only while it waits,
// as in libfuse); one answering a request finishes it first.
#pragma once

#include <pthread.h>
#include <semaphore.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

struct fuse_session;

namespace pbs::fs {

class FuseWorkers {
 public:
  FuseWorkers(fuse_session* se, unsigned threads);
  ~FuseWorkers();
  FuseWorkers(const FuseWorkers&) = delete;
  FuseWorkers& operator=(const FuseWorkers&) = delete;

  /// Serves until the session ends, then calls `ended` and stops the workers; returns 0 when
  /// the kernel ended the connection or the session was exited, -errno when a read failed
  /// otherwise (the first worker's). Also returns 0, without calling `ended`, once pause() was
  /// called: every request read has been answered (or is kept by the lock manager), the rest
  /// wait in the kernel. Call again to go on serving.
  int run(const std::function<void()>& ended = {});
  /// Makes run() stop the workers and return (from any thread but a worker).
  void pause();
  /// Whether the last run() returned because of pause().
  bool paused() const { return paused_.load(); }

 private:
  struct Worker;
  static void* work(void* self);
  void serve(Worker& worker);

  fuse_session* se_;
  unsigned threads_;
  std::vector<std::unique_ptr<Worker>> workers_;
  sem_t ended_;  ///< posted by each worker that stops by itself
  std::atomic<int> error_{0};
  std::atomic<bool> paused_{false};
};

}  // namespace pbs::fs
