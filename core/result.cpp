// Formatting of system-call errors.
#include "result.hpp"

#include <cstring>

namespace pbs {

Error sys_error(const std::string& what, const std::string& object, int code) {
  return Error{code, what + " " + object + ": " + std::strerror(code)};
}

}  // namespace pbs
