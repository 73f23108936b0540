// ConnectionIo: the daemon's reads and writes on its /dev/fuse connection, through libfuse's
// custom-IO hooks (fuse_session_custom_io): plain read(2) and writev(2), plus what replacing the
// program under a live mount needs (program_switch.hpp). The kernel sends FUSE_INIT once per
// connection; a new program image must replay it into its own libfuse session, and answer it
// exactly as the old image did, without sending that answer (the kernel had it long ago). So the
// FUSE_INIT request and the answer sent to it are kept, and a replay keeps its answer unsent.
//
//   ConnectionIo::install(se, fd);        // after fuse_session_mount, or on an inherited fd
//   ConnectionIo::request_read(buf);       // by the workers, for each request read
//   auto answer = ConnectionIo::replay_init(se, saved_request);   // a new image, before serving
//
// One connection per process: the state is the process's.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "result.hpp"

namespace pbs::fs {

class ConnectionIo {
 public:
  /// Routes the session's reads and writes on connection `fd` through these hooks (libfuse
  /// closes `fd` when the session is destroyed).
  static Result<void> install(fuse_session* se, int fd);
  /// Called by a worker for each request it read, before libfuse processes it: keeps a
  /// FUSE_INIT, notes the request's unique id for current_unique(), and takes an interrupt of a
  /// request answered through reply() (one an earlier image read): true when it was taken, and
  /// libfuse must not see it.
  static bool request_read(const fuse_buf& buf);
  /// The unique id of the request this thread is processing (0 outside of one).
  static std::uint64_t current_unique();
  /// Of a FUSE_POLL this thread is processing that asks to be woken: the kernel's id to wake it
  /// by (0 otherwise).
  static std::uint64_t current_poll_kh();
  /// Wakes the poll the kernel knows as `kh` (FUSE_NOTIFY_POLL), without libfuse's poll handle
  /// (which an earlier image had).
  static void notify_poll(std::uint64_t kh);
  /// Answers request `unique` on the connection directly (for requests an earlier image read,
  /// which libfuse never saw): `error` (an errno, 0 for success) and the answer's body. False
  /// when the kernel no longer waits for it.
  static bool reply(std::uint64_t unique, int error, const void* body, std::size_t size);
  /// Calls `callback(nullptr, data)` when the kernel interrupts request `unique` (answered
  /// through reply()); until forget_interrupt(unique), which waits for a call in progress.
  static void on_interrupt(std::uint64_t unique, fuse_interrupt_func_t callback, void* data);
  static void forget_interrupt(std::uint64_t unique);
  /// The FUSE_INIT request read and the answer sent to it; empty before INIT.
  static std::string init_request();
  static std::string init_reply();
  /// Processes `request`, a FUSE_INIT the kernel sent to an earlier image, in `se` (hooks
  /// installed), without sending the answer; returns the answer libfuse made.
  static Result<std::string> replay_init(fuse_session* se, const std::string& request);
};

}  // namespace pbs::fs
