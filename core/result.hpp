// Result<T>: a value or an Error (errno plus a message), so that core never throws at its callers.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace pbs {

/// Why an operation failed: an errno value for callers that must answer with one (the FUSE
/// daemon), and a message a PBS admin can read in a log line.
struct Error {
  int code = EIO;
  std::string message;
};

/// Whether `code` says the system (or this process) ran out of something (descriptors, memory):
/// such a failure says nothing about whether a file exists and must reach the caller as it is.
inline bool is_resource_shortage(int code) {
  return code == EMFILE || code == ENFILE || code == ENOMEM || code == ENOBUFS;
}

/// The text of errno value `code` ("No such file or directory"), safe from any thread.
std::string error_text(int code);

/// Builds an Error from the errno of a failed system call, e.g. sys_error("open", path).
Error sys_error(const std::string& what, const std::string& object, int code = errno);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result of an operation that returns nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace pbs
