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

#include <string>

#include "result.hpp"

namespace pbs::fs {

class ConnectionIo {
 public:
  /// Routes the session's reads and writes on connection `fd` through these hooks (libfuse
  /// closes `fd` when the session is destroyed).
  static Result<void> install(fuse_session* se, int fd);
  /// Keeps the request in `buf` if it is the connection's FUSE_INIT.
  static void request_read(const fuse_buf& buf);
  /// The FUSE_INIT request read and the answer sent to it; empty before INIT.
  static std::string init_request();
  static std::string init_reply();
  /// Processes `request`, a FUSE_INIT the kernel sent to an earlier image, in `se` (hooks
  /// installed), without sending the answer; returns the answer libfuse made.
  static Result<std::string> replay_init(fuse_session* se, const std::string& request);
};

}  // namespace pbs::fs
