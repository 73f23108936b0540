// The daemon's FUSE request loop; see fuse_workers.hpp.
#include "fuse_workers.hpp"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <signal.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "connection_io.hpp"
#include "result.hpp"

namespace pbs::fs {

struct FuseWorkers::Worker {
  FuseWorkers* owner = nullptr;
  pthread_t thread{};
  std::atomic<bool> stopped{false};  ///< left its loop by itself
  fuse_buf buf{};  ///< the worker's request buffer: allocated by libfuse, freed after the join
};

namespace {
// The signal that wakes a worker from read(2) for a pause: its handler does nothing and is
// installed without SA_RESTART, so the read fails with EINTR.
const int kWakeSignal = SIGRTMIN;
void wake_up(int) {}
}  // namespace

FuseWorkers::FuseWorkers(fuse_session* se, unsigned threads) : se_(se), threads_(threads) {
  sem_init(&ended_, 0, 0);
  struct sigaction action {};
  action.sa_handler = wake_up;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART
  sigaction(kWakeSignal, &action, nullptr);
}

FuseWorkers::~FuseWorkers() {
  sem_destroy(&ended_);
}

// A worker is ended by pthread_cancel while it waits in read(2), which unwinds its stack
// without running function epilogues: the frames on that path (work, serve) carry no sanitizer
// instrumentation, or AddressSanitizer would find their stale redzones when the thread ends.
#define PBS_CANCELLABLE __attribute__((no_sanitize("address", "thread")))

PBS_CANCELLABLE void* FuseWorkers::work(void* self) {
  // Cancellable only while waiting for a request (serve enables it there).
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
  auto& worker = *static_cast<Worker*>(self);
  worker.owner->serve(worker);
  return nullptr;
}

PBS_CANCELLABLE void FuseWorkers::serve(Worker& worker) {
  while (fuse_session_exited(se_) == 0 && !paused_.load()) {
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
    int res = fuse_session_receive_buf(se_, &worker.buf);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
    if (res == -EINTR || res == -EAGAIN) continue;  // a pause's wake-up, among others
    if (res <= 0) {
      // 0: the kernel ended the connection (libfuse has exited the session) or it was exited.
      int none = 0;
      if (res < 0) error_.compare_exchange_strong(none, res);
      fuse_session_exit(se_);
      break;
    }
    if (ConnectionIo::request_read(worker.buf)) continue;  // taken: not libfuse's
    fuse_session_process_buf(se_, &worker.buf);
  }
  worker.stopped = true;
  sem_post(&ended_);
}

void FuseWorkers::pause() {
  paused_ = true;  // before the wake-ups: a woken worker must see it
  sem_post(&ended_);
}

int FuseWorkers::run(const std::function<void()>& ended) {
  paused_ = false;
  error_ = 0;
  // Stop signals go to the calling thread, whose wait below they end; never to a worker.
  sigset_t blocked;
  sigset_t old;
  sigemptyset(&blocked);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT})
    sigaddset(&blocked, s);
  pthread_sigmask(SIG_BLOCK, &blocked, &old);
  for (unsigned i = 0; i < threads_; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->owner = this;
    if (int error = pthread_create(&worker->thread, nullptr, &FuseWorkers::work, worker.get());
        error != 0) {
      spdlog::error("cannot start FUSE worker {} of {}: {}", i + 1, threads_, error_text(error));
      break;
    }
    workers_.push_back(std::move(worker));
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (workers_.empty()) return -EAGAIN;

  // Until the session ends: a worker saw the connection end (or failed), or a stop signal's
  // handler exited the session (sem_timedwait returns EINTR then; the timeout covers a signal
  // that came between the check and the wait).
  while (fuse_session_exited(se_) == 0 && !paused_) {
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    sem_timedwait(&ended_, &deadline);
  }
  if (fuse_session_exited(se_) != 0) {
    paused_ = false;  // ending wins over a pause asked at the same time
    if (ended) ended();
  }
  if (paused_) {
    // Not cancelled: a cancellation landing as read(2) returns loses the request read (glibc
    // before 2.41 cancels asynchronously around the call), and its caller would wait forever.
    // A signal instead ends only a read that has taken nothing; a worker that has a request
    // answers it and then sees the pause. Sent until each has seen it (it may be on its way
    // into the next read).
    for (;;) {
      bool all = true;
      for (auto& worker : workers_) {
        if (worker->stopped) continue;
        all = false;
        pthread_kill(worker->thread, kWakeSignal);
      }
      if (all) break;
      timespec pause_step{0, 2'000'000};
      nanosleep(&pause_step, nullptr);
    }
  }
  for (auto& worker : workers_) {
    if (!worker->stopped) pthread_cancel(worker->thread);
  }
  for (auto& worker : workers_) {
    pthread_join(worker->thread, nullptr);
    std::free(worker->buf.mem);
    worker->buf.mem = nullptr;
  }
  workers_.clear();
  return error_.load();
}

}  // namespace pbs::fs
