// Formatting of system-call errors.
#include "result.hpp"

#include <cstring>

namespace pbs {

std::string error_text(int code) {
  // strerror() may share a buffer between threads (for unknown codes); strerrordesc_np()
  // returns a constant (glibc 2.32+), nullptr for unknown codes.
  if (const char* text = strerrordesc_np(code)) return text;
  return "Unknown error " + std::to_string(code);
}

Error sys_error(const std::string& what, const std::string& object, int code) {
  return Error{code, what + " " + object + ": " + error_text(code)};
}

}  // namespace pbs
