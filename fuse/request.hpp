// Request: one FUSE request and the duty to answer it exactly once, as a move-only object. It
// answers through its methods only; each clears the interrupt callback first, when one was
// registered (libfuse would otherwise call it for a request that no longer exists); one destroyed
// unanswered (a code path that forgot, an exception) answers EIO and logs it, so the caller never
// hangs. Every FUSE operation receives one (see operation_barrier.hpp); the lock manager keeps it
// while an open waits, and answers it on its own thread.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "connection_io.hpp"

namespace pbs::fs {

class Request {
 public:
  Request() = default;
  /// `answered`: false for FORGET, which the kernel expects no answer to.
  explicit Request(fuse_req_t req, bool answered = true)
      : req_(req), unique_(ConnectionIo::current_unique()), answered_(answered) {}
  /// Request `unique` that an earlier program image of the daemon read and handed over (libfuse
  /// never saw it): answered on the connection directly. Only error() and open() answer it.
  static Request handed_over(std::uint64_t unique) {
    Request r;
    r.unique_ = unique;
    r.direct_ = true;
    return r;
  }
  Request(Request&& other) noexcept
      : req_(std::exchange(other.req_, nullptr)),
        unique_(other.unique_),
        direct_(std::exchange(other.direct_, false)),
        answered_(other.answered_),
        interruptible_(other.interruptible_) {}
  Request& operator=(Request&& other) noexcept {
    if (this != &other) {
      abandon();
      req_ = std::exchange(other.req_, nullptr);
      unique_ = other.unique_;
      direct_ = std::exchange(other.direct_, false);
      answered_ = other.answered_;
      interruptible_ = other.interruptible_;
    }
    return *this;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request() { abandon(); }

  /// Whether it still has to be answered.
  explicit operator bool() const { return req_ != nullptr || direct_; }
  /// The kernel's id of the request (what a program switch hands over).
  std::uint64_t unique() const { return unique_; }
  /// For what libfuse asks of a request besides answering it (caller, userdata).
  fuse_req_t get() const { return req_; }
  /// Calls `callback(req, data)` when the caller is interrupted (a signal) before the answer;
  /// possibly at once, on this thread, when that happened already.
  void on_interrupt(fuse_interrupt_func_t callback, void* data);

  /// `fuse_reply_err`: an errno, or 0 for the operations that answer success that way.
  void error(int code);
  /// entry, open and buffer return false when the kernel no longer waits for the answer (the
  /// caller was interrupted): what the answer handed out (a lookup, a handle) is then undone
  /// by the caller.
  bool entry(const fuse_entry_param& entry);
  void attr(const struct stat& attributes, double timeout);
  bool open(const fuse_file_info& fi);
  bool buffer(const char* data, std::size_t size);
  /// WRITE: how many bytes were taken.
  void written(std::size_t size);
  void xattr_size(std::size_t size);
  void statfs(const struct statvfs& st);
  void lseek(off_t offset);
  void poll(unsigned revents);
  /// For FORGET, which takes no answer.
  void none();
  /// After a failure the operation could not answer itself: EIO (nothing for a FORGET).
  void fail();

 private:
  /// Ends the duty: clears the interrupt callback and hands out the request to answer.
  fuse_req_t take();
  void abandon();

  /// A handed-over request: answered through ConnectionIo. Its duty ends with the answer.
  bool take_direct();

  fuse_req_t req_ = nullptr;
  std::uint64_t unique_ = 0;
  bool direct_ = false;
  bool answered_ = true;
  bool interruptible_ = false;  ///< a callback is registered: cleared before answering
};

}  // namespace pbs::fs
