// The operation barrier: every FUSE operation runs inside it. An exception escaping an
// operation (an unexpected Result::value(), bad_alloc, a std:: parse) would otherwise unwind
// through libfuse's C frames, std::terminate would follow, and every lock held through the mount
// would be released at once. Here it is logged and counted, the request is answered EIO (unless
// the operation answered it or handed it on before throwing), and the daemon keeps serving.
//
//   ops.getxattr = Guarded<"getxattr", op_getxattr>::call;
//
// Test builds (PBS_LOCKFS_FAULT_INJECTION) throw in the operation named by the environment
// variable PBS_LOCKFS_INJECT_FAULT, to prove it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>

#include "request.hpp"

namespace pbs::fs {

/// A string usable as a template argument: an operation's name.
template <std::size_t N>
struct OperationName {
  char text[N];
  constexpr OperationName(const char (&name)[N]) { std::copy_n(name, N, text); }
};

/// Logs and counts an exception caught in operation `name`, and fails `req` if still open.
void operation_failed(const char* name, const char* what, Request& req) noexcept;
/// How many exceptions the barrier caught since start.
std::uint64_t operation_failures();
/// Test builds: throws when PBS_LOCKFS_INJECT_FAULT names `name`; otherwise nothing.
void inject_fault(const char* name);
/// Test builds: never returns when PBS_LOCKFS_INJECT_FAULT names `name` (a stuck thread, for
/// the teardown watchdog's test); otherwise nothing.
void inject_stall(const char* name);

template <OperationName Name, auto Op, bool Answered = true>
struct Guarded;

template <OperationName Name, typename... Args, void (*Op)(Request&, Args...), bool Answered>
struct Guarded<Name, Op, Answered> {
  static void call(fuse_req_t raw, Args... args) noexcept {
    Request req(raw, Answered);
    try {
      inject_fault(Name.text);
      Op(req, args...);
    } catch (const std::exception& e) {
      operation_failed(Name.text, e.what(), req);
    } catch (...) {
      operation_failed(Name.text, "an unknown exception", req);
    }
  }
};

}  // namespace pbs::fs
